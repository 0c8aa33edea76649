/**
 * Supervised fine-tuning as the reference does it (training/sft.py), and pretraining from scratch:
 *
 * - loss on the first token of the answer choice (the label's choice) at the last prompt position;
 *   pretraining adds an auxiliary next-token loss over the prompt (weight `auxWeight`);
 * - classes balanced by undersampling; AdamW (β2 0.95, weight decay 0.1 except norms and biases), linear warmup
 *   over 15% of the steps then linear or cosine decay, gradient clipping at norm 1, gradient accumulation;
 * - evaluation on val / val_alice / val_bob / val_bob_gt at log-spaced steps (1, 2, 4, …) and at the end; the
 *   best weights by validation loss are kept;
 * - a resume state (weights, optimizer moments, step) saved every `saveEvery` steps: a killed run restarts
 *   from it and ends at the same weights as an uninterrupted one (the data order is a function of the seed).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import type { TemplatizedExample } from "../datasets/templatize.ts";
import { linearModules } from "../model/lora.ts";
import { allocParams, type ModelParams } from "../model/params.ts";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "../model/safetensors.ts";
import { encodeChoice, type TextTokenizer } from "../model/tokenizer.ts";
import type { Tape, Transformer } from "../model/transformer.ts";
import { auroc } from "../probes/metrics.ts";
import { backward, crossEntropy, type LoraGrad } from "./backward.ts";
import { AdamW, learningRate, type ParamGroup } from "./optim.ts";

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
};

/** An example ready for training: prompt tokens, the two choice tokens, and the label the loss uses. */
export interface TrainExample {
  tokens: number[];
  choices: [number, number];
  label: boolean;
}

export function prepareExamples(examples: TemplatizedExample[], tok: TextTokenizer, labelKey: "label" | "alice_label" = "label", maxLen = 1024): TrainExample[] {
  const quiet = () => {};
  return examples.map((ex) => {
    const ids = tok.encode(ex.statement);
    return {
      tokens: ids.length > maxLen ? ids.slice(ids.length - maxLen) : ids,
      choices: [encodeChoice(ex.choices[0], tok, quiet), encodeChoice(ex.choices[1], tok, quiet)],
      label: ex[labelKey],
    };
  });
}

/** Undersample the majority class (seeded), then shuffle. */
export function balance<T extends { label: boolean }>(xs: T[], seed: number): T[] {
  const rng = new Rng(seed, "balance");
  const pos = xs.filter((x) => x.label);
  const neg = xs.filter((x) => !x.label);
  if (pos.length === 0 || neg.length === 0) throw new Error(`cannot balance: ${pos.length} true and ${neg.length} false examples`);
  const k = Math.min(pos.length, neg.length);
  return rng.shuffle([...rng.sample(pos, k), ...rng.sample(neg, k)]);
}

interface Batch {
  tokens: Int32Array;
  mask: Uint8Array;
  B: number;
  T: number;
}

function makeBatch(xs: TrainExample[]): Batch {
  const B = xs.length;
  const T = Math.max(...xs.map((x) => x.tokens.length));
  const tokens = new Int32Array(B * T);
  const mask = new Uint8Array(B * T);
  xs.forEach((x, i) => {
    tokens.set(x.tokens, i * T + T - x.tokens.length);
    mask.fill(1, i * T + T - x.tokens.length, (i + 1) * T);
  });
  return { tokens, mask, B, T };
}

export interface EvalResult {
  loss: number;
  auroc: number;
  n: number;
}

/** Answer loss and AUROC of log-odds (true choice − false choice) on a validation set. */
export async function evaluate(model: Transformer, xs: TrainExample[], batchSize = 32): Promise<EvalResult> {
  const V = model.cfg.vocabSize;
  let loss = 0;
  const scores = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i += batchSize) {
    const chunk = xs.slice(i, i + batchSize);
    const b = makeBatch(chunk);
    const { logits } = await model.forward({ tokens: b.tokens, B: b.B, T: b.T, mask: b.mask }, { logits: "last" });
    const targets = Int32Array.from(chunk.map((x) => x.choices[+x.label]));
    loss += crossEntropy(logits, targets, V).loss * chunk.length;
    chunk.forEach((x, j) => (scores[i + j] = logits[j * V + x.choices[1]] - logits[j * V + x.choices[0]]));
  }
  const labels = Uint8Array.from(xs, (x) => +x.label);
  const both = labels.some((l) => l) && labels.some((l) => !l);
  return { loss: loss / xs.length, auroc: both ? auroc(scores, labels) : NaN, n: xs.length };
}

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
}

export async function train(run: TrainRun): Promise<TrainResult> {
  const { model, cfg, workDir } = run;
  const t0 = performance.now();
  if (run.train.length === 0) throw new Error("no training examples");
  const trainable = setUpTrainable(model, cfg);
  const opt = new AdamW(trainable.groups, { lr: cfg.lr, beta2: cfg.beta2, weightDecay: cfg.weightDecay });
  const statePath = join(workDir, "resume.safetensors");
  const stateMeta = join(workDir, "resume.json");
  const bestPath = join(workDir, "best.safetensors");
  const cfgKey = JSON.stringify({ ...cfg, saveEvery: undefined, maxEvalExamples: undefined });
  let curves: TrainResult["curves"] = { train: [], eval: [] };
  let best = { step: 0, valLoss: Infinity };
  let secondsBefore = 0; // training time of earlier, interrupted sessions of this run

  // resume
  if (existsSync(statePath) && existsSync(stateMeta)) {
    const meta = JSON.parse(readFileSync(stateMeta, "utf8"));
    if (meta.cfgKey !== cfgKey) throw new Error(`${workDir}: a resume state from a run with other settings is here; delete it or use another output folder`);
    const saved = readSafetensors(statePath);
    restore(trainable, saved, statePath);
    trainable.groups.forEach((_, gi) => {
      opt.m[gi].set(saved.get(`m.${gi}`)!.data);
      opt.v[gi].set(saved.get(`v.${gi}`)!.data);
    });
    opt.step = meta.step;
    curves = meta.curves;
    best = meta.best;
    secondsBefore = meta.seconds ?? 0;
  }

  const saveState = () => {
    const tensors = snapshot(trainable);
    trainable.groups.forEach((g, gi) => {
      tensors.set(`m.${gi}`, { shape: [g.params.length], data: opt.m[gi] });
      tensors.set(`v.${gi}`, { shape: [g.params.length], data: opt.v[gi] });
    });
    writeSafetensors(statePath, tensors);
    writeFileAtomic(stateMeta, JSON.stringify({ cfgKey, step: opt.step, curves, best, seconds: secondsBefore + (performance.now() - t0) / 1000 }));
  };

  const valSets = Object.fromEntries(Object.entries(run.val).map(([k, xs]) => [k, xs.slice(0, cfg.maxEvalExamples)]));
  const runEval = async (step: number) => {
    if (Object.keys(valSets).length === 0) return;
    const sets: Record<string, EvalResult> = {};
    for (const [k, xs] of Object.entries(valSets)) if (xs.length) sets[k] = await evaluate(model, xs);
    curves.eval.push({ step, sets });
    run.onEval?.(step, sets);
    const valLoss = (sets.val ?? Object.values(sets)[0]).loss;
    if (valLoss < best.valLoss) {
      best = { step, valLoss };
      writeSafetensors(bestPath, snapshot(trainable));
    }
  };

  const V = model.cfg.vocabSize;
  const warmup = Math.round(cfg.steps * cfg.warmupFrac);
  while (opt.step < cfg.steps) {
    const step = opt.step;
    const ts = performance.now();
    let ansLoss = 0;
    let auxLoss = 0;
    let tokens = 0;
    const idx = stepIndices(run.train.length, step, cfg.batchSize * cfg.accumSteps, cfg.seed);
    for (let micro = 0; micro < cfg.accumSteps; micro++) {
      const xs = idx.slice(micro * cfg.batchSize, (micro + 1) * cfg.batchSize).map((i) => run.train[i]);
      const b = makeBatch(xs);
      // logits at each row's last position (the answer), then at every real position but the last (next token)
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
      const tape = {} as Tape;
      const { logits } = await model.forward({ tokens: b.tokens, B: b.B, T: b.T, mask: b.mask }, { logits: positions, tape });
      const ansCe = crossEntropy(logits.subarray(0, b.B * V), Int32Array.from(xs, (x) => x.choices[+x.label]), V);
      const dlogits = new Float32Array(logits.length);
      for (let i = 0; i < ansCe.dlogits.length; i++) dlogits[i] = ansCe.dlogits[i] / cfg.accumSteps;
      ansLoss += ansCe.loss / cfg.accumSteps;
      if (aux.length) {
        const auxCe = crossEntropy(logits.subarray(b.B * V), Int32Array.from(auxTargets), V);
        for (let i = 0; i < auxCe.dlogits.length; i++) dlogits[b.B * V + i] = (cfg.auxWeight * auxCe.dlogits[i]) / cfg.accumSteps;
        auxLoss += auxCe.loss / cfg.accumSteps;
      }
      await backward(model, tape, dlogits, { grads: trainable.grads, loraGrads: trainable.loraGrads, lowestLayer: trainable.lowestLayer });
      tokens += b.mask.reduce((a, m) => a + m, 0);
    }
    // clip the global gradient norm
    let sq = 0;
    for (const g of trainable.groups) for (let i = 0; i < g.grads.length; i++) sq += g.grads[i] * g.grads[i];
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) throw new Error(`step ${step}: the gradient is not finite (loss ${ansLoss}); lower the learning rate`);
    if (norm > cfg.maxGradNorm) for (const g of trainable.groups) for (let i = 0; i < g.grads.length; i++) g.grads[i] *= cfg.maxGradNorm / norm;
    const lr = learningRate(step, cfg.steps, warmup, cfg.lr, cfg.decay);
    opt.update(lr);
    opt.zeroGrad();
    const log = { step: opt.step, lr, loss: ansLoss + cfg.auxWeight * auxLoss, answerLoss: ansLoss, auxLoss, tokensPerSecond: tokens / ((performance.now() - ts) / 1000) };
    curves.train.push(log);
    run.onLog?.(log);
    if (isEvalStep(opt.step, cfg.steps)) await runEval(opt.step);
    if (opt.step % cfg.saveEvery === 0 || opt.step === cfg.steps) saveState();
    run.afterStep?.(opt.step);
  }
  // keep the best weights
  if (existsSync(bestPath)) restore(trainable, readSafetensors(bestPath), bestPath);
  return { steps: opt.step, curves, best, seconds: secondsBefore + (performance.now() - t0) / 1000 };
}

/** Remove the resume state after the outputs are written. */
export function clearTrainState(workDir: string): void {
  for (const f of ["resume.safetensors", "resume.json", "best.safetensors"]) rmSync(join(workDir, f), { force: true });
}
