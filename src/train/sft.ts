/**
 * Supervised fine-tuning as the reference does it (training/sft.py), and pretraining from scratch:
 *
 * - loss on the first token of the answer choice (the label's choice) at the last prompt position;
 *   pretraining adds an auxiliary next-token loss over the prompt (weight `auxWeight`);
 * - classes balanced by undersampling; AdamW (β2 0.95, weight decay 0.1 except norms and biases), linear warmup
 *   over 15% of the steps then linear or cosine decay, gradient clipping at norm 1, gradient accumulation;
 * - evaluation on val / val_alice / val_bob / val_bob_gt at log-spaced steps (1, 2, 4, …) and at the end; the
 *   best weights by validation loss are kept (or, keep "last", the last step's);
 * - a resume state (weights, optimizer moments, step) saved every `saveEvery` steps: a killed run restarts
 *   from it and ends at the same weights as an uninterrupted one (the data order is a function of the seed).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { linearModules } from "../model/lora.ts";
import { allocParams, type ModelParams } from "../model/params.ts";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "../model/safetensors.ts";
import type { Transformer } from "../model/transformer.ts";
import type { Tape } from "../model/activations.ts";
import { backward, type LoraGrad } from "./backward.ts";
import { headLoss } from "./loss.ts";
import { AdamW, learningRate, type ParamGroup } from "./optim.ts";
import { evaluate, makeBatch, type EvalResult, type TrainExample } from "./examples.ts";

export interface TrainConfig {
  /** "lora": rank-r adapters on `loraTargets`; "full": the weights themselves */
  mode: "lora" | "full";
  loraRank: number;
  loraAlpha: number;
  /** module name suffixes (PEFT target_modules) */
  loraTargets: string[];
  /** train only these blocks (PEFT layers_to_transform); full mode also trains embeddings and the final norm when unset */
  layers?: number[];
  lr: number;
  weightDecay: number;
  beta2: number;
  warmupFrac: number;
  decay: "linear" | "cosine";
  batchSize: number;
  accumSteps: number;
  /** optimizer steps */
  steps: number;
  /** weight of the next-token loss over the prompt (pretraining), 0 for none */
  auxWeight: number;
  maxGradNorm: number;
  seed: number;
  /** save a resume state every this many steps */
  saveEvery: number;
  /** evaluate at most this many examples per validation set */
  maxEvalExamples: number;
  /** keep only each block's input, its backward one graph that recomputes it (block-backward.ts): less memory, one more forward's work, the same gradients to f32 rounding */
  checkpoint: boolean;
  /** which weights the run ends with: those of the lowest validation loss ("best"), or of the last step ("last") */
  keep: "best" | "last";
}

export const DEFAULT_TRAIN: TrainConfig = {
  mode: "lora",
  loraRank: 8,
  loraAlpha: 8,
  loraTargets: ["query_key_value", "dense_h_to_4h", "dense_4h_to_h", "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
  lr: 2e-5,
  weightDecay: 0.1,
  beta2: 0.95,
  warmupFrac: 0.15,
  decay: "linear",
  batchSize: 8,
  accumSteps: 4,
  steps: 1000,
  auxWeight: 0,
  maxGradNorm: 1,
  seed: 42,
  saveEvery: 25,
  maxEvalExamples: 1000,
  checkpoint: false,
  keep: "best",
};

export interface TrainLog {
  step: number;
  lr: number;
  loss: number;
  answerLoss: number;
  auxLoss: number;
  tokensPerSecond: number;
}

export interface TrainResult {
  steps: number;
  curves: { train: TrainLog[]; eval: { step: number; sets: Record<string, EvalResult> }[] };
  best: { step: number; valLoss: number };
  /** wall seconds of training, summed over the sessions of a resumed run (up to each one's last saved state) */
  seconds: number;
}

/** The trainable tensors of a run, and how the backward pass reaches them. */
interface Trainable {
  groups: ParamGroup[];
  /** name → (parameter view, gradient view) */
  tensors: Map<string, { param: Float32Array; grad: Float32Array; shape: number[] }>;
  grads?: ModelParams<Float32Array>;
  loraGrads?: Map<string, LoraGrad>;
  lowestLayer: number;
}

function setUpTrainable(model: Transformer, cfg: TrainConfig): Trainable {
  const L = model.cfg.nLayers;
  const layers = cfg.layers ?? Array.from({ length: L }, (_, i) => i);
  for (const l of layers) if (!(l >= 0 && l < L)) throw new Error(`--layers: layer ${l} outside 0..${L - 1}`);
  const inLayers = (name: string) => {
    const m = /\.layers\.(\d+)\./.exec(name);
    return m ? layers.includes(Number(m[1])) : cfg.layers === undefined;
  };
  const tensors: Trainable["tensors"] = new Map();
  const groups: ParamGroup[] = [];
  const noDecay = (name: string) => name.endsWith(".bias") || /norm/.test(name);
  if (cfg.mode === "full") {
    const params = model.widenWeights(); // full fine-tuning updates every weight in f32
    const grads = allocParams(model.cfg);
    for (const [name, t] of params.tensors) {
      if (!inLayers(name)) continue;
      const g = grads.tensors.get(name)!.data;
      tensors.set(name, { param: t.data, grad: g, shape: t.shape });
      groups.push({ params: t.data, grads: g, decay: !noDecay(name) });
    }
    const lowestLayer = cfg.layers === undefined ? 0 : Math.min(...layers);
    return { groups, tensors, grads, lowestLayer };
  }
  // LoRA: A ~ U(−1/√in, 1/√in) (PEFT's kaiming-uniform with a = √5), B = 0
  const rng = new Rng(cfg.seed, "lora-init");
  const loraGrads = new Map<string, LoraGrad>();
  model.lora.clear();
  for (const [name, lin] of linearModules(model)) {
    if (!cfg.loraTargets.some((t) => name === t || name.endsWith(`.${t}`)) || !inLayers(name)) continue;
    const r = cfg.loraRank;
    const bound = 1 / Math.sqrt(lin.inDim);
    const A = Float32Array.from({ length: r * lin.inDim }, () => (2 * rng.random() - 1) * bound);
    const Bm = new Float32Array(lin.outDim * r);
    model.lora.set(name, { A, B: Bm, r, scale: cfg.loraAlpha / r });
    const g = { A: new Float32Array(A.length), B: new Float32Array(Bm.length) };
    loraGrads.set(name, g);
    tensors.set(`${name}.lora_A`, { param: A, grad: g.A, shape: [r, lin.inDim] });
    tensors.set(`${name}.lora_B`, { param: Bm, grad: g.B, shape: [lin.outDim, r] });
    groups.push({ params: A, grads: g.A, decay: true }, { params: Bm, grads: g.B, decay: true });
  }
  if (loraGrads.size === 0) throw new Error(`no module matches the LoRA targets ${cfg.loraTargets.join(", ")} in layers ${layers.join(", ")}`);
  const lowestLayer = Math.min(...[...loraGrads.keys()].map((n) => Number(/\.layers\.(\d+)\./.exec(n)![1])));
  return { groups, tensors, loraGrads, lowestLayer };
}

/** Which example indices step `s` uses: consecutive slices of per-epoch permutations of the seed. */
function stepIndices(n: number, step: number, perStep: number, seed: number): number[] {
  const out: number[] = [];
  for (let k = step * perStep; k < (step + 1) * perStep; k++) {
    const epoch = Math.floor(k / n);
    out.push(epochOrder(n, epoch, seed)[k % n]);
  }
  return out;
}

const orders = new Map<string, number[]>();
function epochOrder(n: number, epoch: number, seed: number): number[] {
  const key = `${n}:${epoch}:${seed}`;
  let o = orders.get(key);
  if (!o) {
    o = new Rng(seed, `epoch${epoch}`).shuffle(Array.from({ length: n }, (_, i) => i));
    if (orders.size > 4) orders.clear();
    orders.set(key, o);
  }
  return o;
}

const isEvalStep = (step: number, total: number) => step === total || (step > 0 && (step & (step - 1)) === 0);

function snapshot(t: Trainable): Map<string, TensorToWrite> {
  return new Map([...t.tensors].map(([name, v]) => [name, { shape: v.shape, data: v.param.slice() }]));
}

function restore(t: Trainable, tensors: Map<string, { data: Float32Array }>, what: string): void {
  for (const [name, v] of t.tensors) {
    const saved = tensors.get(name);
    if (!saved || saved.data.length !== v.param.length) throw new Error(`${what}: no saved '${name}' of the right size (was the run started with other settings?)`);
    v.param.set(saved.data);
  }
}

export interface TrainRun {
  model: Transformer;
  train: TrainExample[];
  val: Record<string, TrainExample[]>;
  cfg: TrainConfig;
  /** resume states and the best weights live here */
  workDir: string;
  onLog?: (log: TrainLog) => void;
  onEval?: (step: number, sets: Record<string, EvalResult>) => void;
  /** called after each optimizer step (tests use it to simulate a kill) */
  afterStep?: (step: number) => void;
  /** what the starting weights are (e.g. the model files' fingerprint): with the examples, part of the resume key */
  sourceKey?: string;
}

/** sha256 of the training and validation examples: a resume state made from other data is refused, not continued. */
export function examplesHash(run: Pick<TrainRun, "train" | "val">): string {
  const h = createHash("sha256");
  for (const [name, xs] of [["train", run.train] as const, ...Object.entries(run.val).sort(([a], [b]) => (a < b ? -1 : 1))]) {
    h.update(`${name}:${xs.length};`);
    for (const x of xs) h.update(new Uint8Array(Int32Array.from([...x.tokens, -1, x.choices[0], x.choices[1], +x.label, -2]).buffer));
  }
  return h.digest("hex");
}

/**
 * One micro-batch: forward with a tape, the answer loss (cross-entropy of the answer's first token at each row's last
 * position) plus auxWeight × the next-token loss at every other real position, and backward into the trainable
 * gradients, scaled by 1/accumSteps so the accumulated gradient is the mean over the step's micro-batches.
 */
/** Per model, the tape of its last micro-step, spent once its backward ran: the next forward reuses its buffers. */
const spentTapes = new WeakMap<Transformer, Tape>();

async function microStep(model: Transformer, trainable: Trainable, xs: TrainExample[], cfg: TrainConfig): Promise<{ ansLoss: number; auxLoss: number; tokens: number }> {
  const b = makeBatch(xs);
  const ans = Int32Array.from({ length: b.B }, (_, r) => r * b.T + b.T - 1);
  const aux: number[] = [];
  const auxTargets: number[] = [];
  if (cfg.auxWeight > 0) {
    for (let r = 0; r < b.B; r++)
      for (let t = 0; t < b.T - 1; t++)
        if (b.mask[r * b.T + t]) {
          aux.push(r * b.T + t);
          auxTargets.push(b.tokens[r * b.T + t + 1]);
        }
  }
  const positions = Int32Array.from([...ans, ...aux]);
  const { tape } = await model.forward({ tokens: b.tokens, B: b.B, T: b.T, mask: b.mask }, { logits: positions, tape: true, headless: true, reuseTape: spentTapes.get(model), checkpoint: cfg.checkpoint });
  // L = mean answer loss + auxWeight · mean next-token loss, over accumSteps micro-batches
  const targets = Int32Array.from([...xs.map((x) => x.choices[+x.label]), ...auxTargets]);
  const coef = Float32Array.from(positions, (_, i) => (i < b.B ? 1 / b.B : cfg.auxWeight / aux.length) / cfg.accumSteps);
  const { nll, dh } = await headLoss(model, tape!, targets, coef, { gradUnembed: trainable.grads?.unembed });
  let ansSum = 0;
  let auxSum = 0;
  for (let i = 0; i < nll.length; i++) (i < b.B ? (ansSum += nll[i]) : (auxSum += nll[i]));
  await backward(model, tape!, { dh }, { grads: trainable.grads, loraGrads: trainable.loraGrads, lowestLayer: trainable.lowestLayer });
  spentTapes.set(model, tape!);
  return { ansLoss: ansSum / b.B / cfg.accumSteps, auxLoss: aux.length ? auxSum / aux.length / cfg.accumSteps : 0, tokens: b.mask.reduce((a, m) => a + m, 0) };
}

/** Scale the gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
function clipGradNorm(trainable: Trainable, maxNorm: number): number {
  let sq = 0;
  for (const g of trainable.groups) for (let i = 0; i < g.grads.length; i++) sq += g.grads[i] * g.grads[i];
  const norm = Math.sqrt(sq);
  if (norm > maxNorm) for (const g of trainable.groups) for (let i = 0; i < g.grads.length; i++) g.grads[i] *= maxNorm / norm;
  return norm;
}

/** What a run keeps between sessions: curves, the best validation loss, and the training time so far. */
interface RunRecord {
  curves: TrainResult["curves"];
  best: { step: number; valLoss: number };
  seconds: number;
}

/**
 * The resume state of a run in workDir: trainable weights and AdamW moments (resume.safetensors) and the record
 * (resume.json), keyed by the settings, the examples and the starting weights, so a run with other ones is refused.
 */
function resumeState(workDir: string, cfg: TrainConfig, trainable: Trainable, opt: AdamW, data: { examples: string; source: string | null }) {
  const statePath = join(workDir, "resume.safetensors");
  const metaPath = join(workDir, "resume.json");
  const cfgKey = JSON.stringify({ ...cfg, saveEvery: undefined, maxEvalExamples: undefined, checkpoint: undefined, keep: undefined, ...data });
  return {
    /** restore a saved state into the weights and optimizer; its record, or a fresh one */
    load(): RunRecord {
      if (!existsSync(statePath) || !existsSync(metaPath)) return { curves: { train: [], eval: [] }, best: { step: 0, valLoss: Infinity }, seconds: 0 };
      const meta = JSON.parse(readFileSync(metaPath, "utf8"));
      if (meta.cfgKey !== cfgKey) throw new Error(`${workDir}: a resume state from a run with other settings, data or starting weights is here; delete it or use another output folder`);
      const saved = readSafetensors(statePath);
      restore(trainable, saved, statePath);
      trainable.groups.forEach((_, gi) => {
        opt.m[gi].set(saved.get(`m.${gi}`)!.data);
        opt.v[gi].set(saved.get(`v.${gi}`)!.data);
      });
      opt.step = meta.step;
      return { curves: meta.curves, best: meta.best, seconds: meta.seconds ?? 0 };
    },
    save(record: RunRecord): void {
      const tensors = snapshot(trainable);
      trainable.groups.forEach((g, gi) => {
        tensors.set(`m.${gi}`, { shape: [g.params.length], data: opt.m[gi] });
        tensors.set(`v.${gi}`, { shape: [g.params.length], data: opt.v[gi] });
      });
      writeSafetensors(statePath, tensors);
      writeFileAtomic(metaPath, JSON.stringify({ cfgKey, step: opt.step, curves: record.curves, best: record.best, seconds: record.seconds }));
    },
  };
}

/**
 * Train `run.model` in place: AdamW steps of cfg.batchSize × cfg.accumSteps examples with warmup and decay, the
 * gradient norm clipped, validation sets scored at log-spaced steps (the best weights by validation loss kept and
 * restored at the end), and a resume state every cfg.saveEvery steps so a killed run continues where it stopped.
 */
export async function train(run: TrainRun): Promise<TrainResult> {
  const { model, cfg, workDir } = run;
  const t0 = performance.now();
  if (run.train.length === 0) throw new Error("no training examples");
  const trainable = setUpTrainable(model, cfg);
  const opt = new AdamW(trainable.groups, { lr: cfg.lr, beta2: cfg.beta2, weightDecay: cfg.weightDecay });
  const state = resumeState(workDir, cfg, trainable, opt, { examples: examplesHash(run), source: run.sourceKey ?? null });
  // weights edited on the host in full training (the optimizer, a restored state): a device's copies go up again
  const weightsEdited = async () => {
    if (cfg.mode === "full") await model.weightsChanged();
  };
  const record = state.load();
  await weightsEdited();
  const secondsBefore = record.seconds; // training time of earlier, interrupted sessions of this run
  const seconds = () => secondsBefore + (performance.now() - t0) / 1000;
  const bestPath = join(workDir, "best.safetensors");

  const valSets = Object.fromEntries(Object.entries(run.val).map(([k, xs]) => [k, xs.slice(0, cfg.maxEvalExamples)]));
  const runEval = async (step: number) => {
    if (Object.keys(valSets).length === 0) return;
    const sets: Record<string, EvalResult> = {};
    for (const [k, xs] of Object.entries(valSets)) if (xs.length) sets[k] = await evaluate(model, xs);
    record.curves.eval.push({ step, sets });
    run.onEval?.(step, sets);
    const valLoss = (sets.val ?? Object.values(sets)[0]).loss;
    if (valLoss < record.best.valLoss) {
      record.best = { step, valLoss };
      writeSafetensors(bestPath, snapshot(trainable));
    }
  };

  const warmup = Math.round(cfg.steps * cfg.warmupFrac);
  while (opt.step < cfg.steps) {
    const step = opt.step;
    const ts = performance.now();
    let ansLoss = 0;
    let auxLoss = 0;
    let tokens = 0;
    const idx = stepIndices(run.train.length, step, cfg.batchSize * cfg.accumSteps, cfg.seed);
    for (let micro = 0; micro < cfg.accumSteps; micro++) {
      const r = await microStep(model, trainable, idx.slice(micro * cfg.batchSize, (micro + 1) * cfg.batchSize).map((i) => run.train[i]), cfg);
      ansLoss += r.ansLoss;
      auxLoss += r.auxLoss;
      tokens += r.tokens;
    }
    if (!Number.isFinite(clipGradNorm(trainable, cfg.maxGradNorm))) throw new Error(`step ${step}: the gradient is not finite (loss ${ansLoss}); lower the learning rate`);
    const lr = learningRate(step, cfg.steps, warmup, cfg.lr, cfg.decay);
    opt.update(lr);
    await weightsEdited();
    opt.zeroGrad();
    const log = { step: opt.step, lr, loss: ansLoss + cfg.auxWeight * auxLoss, answerLoss: ansLoss, auxLoss, tokensPerSecond: tokens / ((performance.now() - ts) / 1000) };
    record.curves.train.push(log);
    run.onLog?.(log);
    if (isEvalStep(opt.step, cfg.steps)) await runEval(opt.step);
    if (opt.step % cfg.saveEvery === 0 || opt.step === cfg.steps) state.save({ ...record, seconds: seconds() });
    run.afterStep?.(opt.step);
  }
  // keep the best weights (or the last: a pretraining run's validation loss can rise while its AUROC still climbs)
  if (cfg.keep === "best" && existsSync(bestPath)) {
    restore(trainable, readSafetensors(bestPath), bestPath);
    await weightsEdited();
  }
  return { steps: opt.step, curves: record.curves, best: record.best, seconds: seconds() };
}

/** Remove the resume state after the outputs are written. */
export function clearTrainState(workDir: string): void {
  for (const f of ["resume.safetensors", "resume.json", "best.safetensors"]) rmSync(join(workDir, f), { force: true });
}
