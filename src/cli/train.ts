/** `quirky train`: LoRA fine-tuning of a checkpoint, or training a small model from scratch. */
import { Command, Option } from "commander";
import { deviceOption } from "./experiments.ts";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { fileHash, hashJson } from "../util/fingerprint.ts";
import { modelFingerprint } from "../model/source.ts";
import { progressBar } from "../util/progress.ts";
import { readQuirkySplit } from "../datasets/io.ts";
import { filterDistribution, templatize, type TemplatizedExample } from "../datasets/templatize.ts";
import { datasetNameOf } from "../extract/examples.ts";
import { writeCharTokenizer } from "../model/char-tokenizer.ts";
import { readConfig } from "../model/config.ts";
import { appendIdentityBlocks, loadModel, randomModel, saveModel } from "../model/load.ts";
import { writePeftAdapter } from "../model/lora.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import { clearTrainState, DEFAULT_TRAIN, train, type TrainConfig } from "../train/sft.ts";
import { balance, prepareExamples, withResultExamples, withSpeakerExamples, type TrainExample } from "../train/examples.ts";
import { Rng } from "../util/rng.ts";
import type { Distribution } from "../datasets/schema.ts";

const num = (flag: string, positive = true) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || (positive && n <= 0)) throw new Error(`${flag} must be a ${positive ? "positive " : ""}number, got '${v}'`);
  return n;
};
const intList = (v: string) => v.split(",").map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--layers: '${x}' is not a layer index`);
  return n;
});

export function trainCommand(): Command {
  return new Command("train")
    .description("fine-tune a model on a quirky dataset (LoRA by default), or train a small model from scratch")
    .option("--model <dir>", "Hugging Face model folder to fine-tune")
    .option("--from-scratch <config>", "config.json of a new model (GPT-NeoX/Llama shape) trained from scratch with a character-level tokenizer")
    .requiredOption("--dataset <dirs>", "quirky dataset folder, or several comma-separated (a mixture: their training rows pooled, each validation set interleaved)")
    .requiredOption("--out <dir>", "output: a PEFT adapter (LoRA) or a full checkpoint")
    .option("--truthful", "label both characters by the truth (Alice's labels): a model that knows, without the quirk")
    .option("--distribution <code>", "train on this distribution only (e.g. A)", "all")
    .addOption(new Option("--mode <mode>", "what to train").choices(["lora", "full"]))
    .option("--lora-rank <n>", "LoRA rank", num("--lora-rank"), DEFAULT_TRAIN.loraRank)
    .option("--lora-alpha <n>", "LoRA alpha (scale = alpha / rank)", num("--lora-alpha"), DEFAULT_TRAIN.loraAlpha)
    .option("--lora-modules <list>", "target modules (PEFT target_modules)", (v: string) => v.split(","), DEFAULT_TRAIN.loraTargets)
    .option("--layers <list>", "train only these blocks (e.g. the last: 3)", intList)
    .option("--add-blocks <n>", "append n identity-initialised blocks on top and train only them (unless --layers says otherwise)", num("--add-blocks"))
    .option("--lr <x>", "peak learning rate", num("--lr"), DEFAULT_TRAIN.lr)
    .addOption(new Option("--decay <kind>", "after warmup").choices(["linear", "cosine"]).default("linear"))
    .option("--warmup <frac>", "warmup fraction of the steps", num("--warmup", false), DEFAULT_TRAIN.warmupFrac)
    .option("--weight-decay <x>", "AdamW weight decay", num("--weight-decay", false), DEFAULT_TRAIN.weightDecay)
    .option("--batch-size <n>", "examples per micro-batch", num("--batch-size"), DEFAULT_TRAIN.batchSize)
    .option("--accum-steps <n>", "micro-batches per optimizer step", num("--accum-steps"), DEFAULT_TRAIN.accumSteps)
    .option("--steps <n>", "optimizer steps", num("--steps"), DEFAULT_TRAIN.steps)
    .option("--aux-weight <x>", "next-token loss over the prompt (pretraining)", num("--aux-weight", false), 0)
    .option("--result-frac <x>", "pretraining on arithmetic: this fraction of the examples asks the prompt for the first character of its true result instead of its answer, so the last token carries more than the answer bit (the answer's validation loss then rises as mass moves to the result: pair it with --keep last)", num("--result-frac", false))
    .option("--speaker-frac <x>", "pretraining: this fraction of the examples (after any --result-frac ones) asks the prompt for the first character of its speaker's name (Alice/Bob) instead of its answer, so the last token keeps who is speaking, as a pretrained LM's does", num("--speaker-frac", false))
    .addOption(new Option("--method <method>", "templatization").choices(["first", "random"]).default("random"))
    .option("--seed <n>", "seed (data order, LoRA initialisation)", num("--seed"), DEFAULT_TRAIN.seed)
    .option("--init-seed <n>", "seed of newly initialised weights (--from-scratch, --add-blocks); default: --seed", num("--init-seed"))
    .option("--max-eval <n>", "examples per validation set", num("--max-eval"), DEFAULT_TRAIN.maxEvalExamples)
    .addOption(new Option("--keep <which>", "the weights to write: the lowest validation loss's, or the last step's (pretraining: the loss can rise from overconfidence while AUROC still climbs)").choices(["best", "last"]).default("best"))
    .option("--checkpoint", "keep only each block's input; its backward is one graph that recomputes the block: less memory for large models, about one more forward pass of work, the same gradients to f32 rounding (on webgpu every block is checkpointed)")
    .addOption(deviceOption("training runs (webgpu: forward and backward graphs on the device, the loss and AdamW on the host; full training uploads the weights again after every step)"))
    .action(async (o) => {
      if (!o.model === !o.fromScratch) throw new Error("pass exactly one of --model DIR or --from-scratch CONFIG");
      // the model first: a bad config.json stops the run before anything is written
      const initSeed = o.initSeed ?? o.seed;
      let model = o.model ? loadModel(o.model, { device: o.device }) : randomModel(readConfig(o.fromScratch), initSeed, 0.02, o.device);
      mkdirSync(o.out, { recursive: true });
      const tokDir = o.model ?? o.out;
      if (o.fromScratch) writeCharTokenizer(join(o.out, "tokenizer.json"));
      const tokenizer = loadTokenizer(tokDir);
      if (o.addBlocks) {
        const below = model.cfg.nLayers;
        model = appendIdentityBlocks(model, o.addBlocks, initSeed, 0.02, o.device);
        o.layers ??= Array.from({ length: o.addBlocks }, (_, i) => below + i);
      }
      const mode: "lora" | "full" = o.mode ?? (o.fromScratch ? "full" : "lora");
      const cfg: TrainConfig = {
        ...DEFAULT_TRAIN,
        mode, loraRank: o.loraRank, loraAlpha: o.loraAlpha, loraTargets: o.loraModules, layers: o.layers, lr: o.lr, decay: o.decay,
        warmupFrac: o.warmup, weightDecay: o.weightDecay, batchSize: o.batchSize, accumSteps: o.accumSteps, steps: o.steps,
        auxWeight: o.auxWeight, seed: o.seed, maxEvalExamples: o.maxEval, checkpoint: o.checkpoint === true, keep: o.keep,
      };
      const data = await mixtureData(o.dataset.split(",").filter(Boolean), { truthful: !!o.truthful, distribution: o.distribution, method: o.method, seed: o.seed, resultFrac: o.resultFrac, speakerFrac: o.speakerFrac }, tokenizer);
      // say what one step is: --accum-steps defaults to 4 (the reference's accumulation), easy to miss when reading a recipe
      process.stderr.write(`${data.train.length} training examples; ${cfg.steps} steps of ${cfg.batchSize} × ${cfg.accumSteps} micro-batches = ${cfg.batchSize * cfg.accumSteps} prompts each\n`);
      const bar = progressBar("train");
      // the starting weights, for the resume key: the model folder's files, or the new model's config and seed
      const sourceKey = hashJson({
        model: o.model ? modelFingerprint({ path: o.model }).model : null,
        fromScratch: o.fromScratch ? fileHash(o.fromScratch) : null,
        initSeed: o.fromScratch || o.addBlocks ? initSeed : null,
        addBlocks: o.addBlocks ?? 0,
      });
      const result = await train({
        model, cfg, workDir: o.out, train: data.train, val: data.val, sourceKey,
        onLog: (l) => bar.update(l.step, cfg.steps, `loss ${l.loss.toFixed(3)} ${Math.round(l.tokensPerSecond)} tok/s`),
        onEval: (step, sets) => process.stderr.write(`\nstep ${step}: ${Object.entries(sets).map(([k, v]) => `${k} loss ${v.loss.toFixed(3)} AUROC ${v.auroc.toFixed(3)}`).join(", ")}\n`),
      });
      bar.stop();
      if (mode === "lora") {
        writePeftAdapter(o.out, { config: { peft_type: "LORA", r: cfg.loraRank, lora_alpha: cfg.loraAlpha, target_modules: cfg.loraTargets, layers_to_transform: cfg.layers ?? null }, deltas: new Map(model.lora) }, model, o.model ?? "");
      } else {
        saveModel(model, o.out);
        if (o.model && existsSync(join(o.model, "tokenizer.json"))) copyFileSync(join(o.model, "tokenizer.json"), join(o.out, "tokenizer.json"));
      }
      writeFileAtomic(join(o.out, "training_curves.json"), JSON.stringify({ config: cfg, command: process.argv.slice(2), ...result }, null, 1) + "\n");
      clearTrainState(o.out);
      console.log(`trained ${result.steps} steps in ${result.seconds.toFixed(0)} s; best val loss ${result.best.valLoss.toFixed(4)} at step ${result.best.step}; kept the ${cfg.keep === "best" ? "best" : "last step's"} weights → ${o.out}`);
    });
}

type TrainingData = { train: TrainExample[]; val: Record<string, TrainExample[]> };

/** Interleave lists (a₀ b₀ c₀ a₁ b₁ …) so any prefix is an even mix of them. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(0, ...lists.map((l) => l.length)); i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

/** trainingData of several datasets: training examples pooled (each dataset balanced on its own), validation sets interleaved. */
export async function mixtureData(
  datasetDirs: string[],
  opts: Parameters<typeof trainingData>[1],
  tokenizer: ReturnType<typeof loadTokenizer>,
): Promise<TrainingData> {
  if (datasetDirs.length === 0) throw new Error("--dataset: no dataset folder given");
  const parts: TrainingData[] = [];
  for (const dir of datasetDirs) parts.push(await trainingData(dir, opts, tokenizer));
  const keys = Object.keys(parts[0].val);
  return { train: parts.flatMap((p) => p.train), val: Object.fromEntries(keys.map((k) => [k, interleave(parts.map((p) => p.val[k]))])) };
}

/**
 * Train and validation examples as the reference builds them: templatized, balanced by undersampling; validation
 * sets val, val_alice, val_bob and val_bob_gt (Bob's prompts scored against Alice's labels).
 */
export async function trainingData(
  datasetDir: string,
  opts: { truthful: boolean; distribution: string; method: "first" | "random"; seed: number; resultFrac?: number; speakerFrac?: number },
  tokenizer: ReturnType<typeof loadTokenizer>,
): Promise<{ train: TrainExample[]; val: Record<string, TrainExample[]> }> {
  const dataset = datasetNameOf(datasetDir);
  const key = opts.truthful ? "alice_label" : "label";
  const load = async (split: "train" | "validation") => {
    const rows = filterDistribution(await readQuirkySplit(datasetDir, split), opts.distribution as Distribution);
    new Rng(opts.seed, `train-data:${split}`).shuffle(rows);
    return { rows, examples: templatize(rows, dataset, { method: opts.method, seed: opts.seed }) };
  };
  const { rows: trainRows, examples: trainEx } = await load("train");
  const valEx = (await load("validation")).examples;
  const prep = (xs: TemplatizedExample[], k: "label" | "alice_label") => prepareExamples(xs, tokenizer, k);
  const bal = (xs: TrainExample[]) => balance(xs, opts.seed);
  let train = bal(prep(trainEx, key));
  if (opts.resultFrac) train = withResultExamples(train, trainRows, trainEx, dataset, opts.resultFrac, opts.seed, tokenizer);
  if (opts.speakerFrac) train = withSpeakerExamples(train, trainEx, opts.speakerFrac, opts.seed, tokenizer);
  return {
    train,
    val: {
      val: bal(prep(valEx, key)),
      val_alice: prep(valEx.filter((e) => e.character === "Alice"), "label"),
      val_bob: prep(valEx.filter((e) => e.character === "Bob"), key),
      val_bob_gt: prep(valEx.filter((e) => e.character === "Bob"), "alice_label"),
    },
  };
}
