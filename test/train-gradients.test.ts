/**
 * Gradients of the backward pass against central finite differences of the forward pass's loss, for every
 * parameter kind (embedding, norms, fused and plain linears with biases, unembedding, LoRA A and B), on tiny
 * GPT-NeoX (parallel and sequential residual), Llama (GQA) and Mistral (sliding window) models.
 *
 * The engine computes in f32, so differences use ε = 1e-2 on weights of size ~0.3 and the tolerance is
 * documented: |analytic − numeric| ≤ 2e-3 · max(1, |analytic|) + 2e-3 (f32 rounding of the loss over 2ε sets
 * the floor: ~1e-7 / 2e-2 ≈ 5e-6 per unit of loss sensitivity, and curvature gives O(ε²)).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { allocParams } from "../src/model/params.ts";
import type { Transformer } from "../src/model/transformer.ts";
import type { Tape } from "../src/model/activations.ts";
import { backward, type LoraGrad } from "../src/train/backward.ts";
import { crossEntropy, headLoss } from "../src/train/loss.ts";
import { Rng } from "../src/util/rng.ts";

const NEOX = { model_type: "gpt_neox", vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, rotary_pct: 0.5, max_position_embeddings: 64 };
const LLAMA = { model_type: "llama", vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 12, max_position_embeddings: 64, attention_bias: true };
const MISTRAL = { ...LLAMA, model_type: "mistral", sliding_window: 2, attention_bias: false };

// a left-padded batch of two sequences; loss at four positions (the last of each row and two inside)
const TOKENS = Int32Array.from([0, 0, 3, 7, 1, 2, 9, 4, 11, 5, 6, 8]);
const MASK = Uint8Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
const POSITIONS = Int32Array.from([5, 3, 11, 8]);
const TARGETS = Int32Array.from([2, 4, 10, 1]);

async function loss(m: Transformer, record = false, checkpoint = false): Promise<{ loss: number; dlogits: Float32Array; tape?: Tape }> {
  const { logits, tape } = await m.forward({ tokens: TOKENS, B: 2, T: 6, mask: MASK }, { logits: POSITIONS, tape: record, checkpoint });
  return { ...crossEntropy(logits, TARGETS, m.cfg.vocabSize), tape };
}

/** Finite differences against the backward pass: the JS backward over a full tape, or (checkpoint) the blocks' backward graphs. */
async function check(config: Record<string, unknown>, withLora: boolean, checkpoint: boolean) {
  const m = randomModel(config, 3, 0.3);
  const rng = new Rng(4, "gradcheck");
  const loraGrads = new Map<string, LoraGrad>();
  if (withLora) {
    for (const layer of m.params.layers) {
      for (const lin of [layer.qkv.parts[0], layer.o, layer.down]) {
        const r = 2;
        m.lora.set(lin.name, { r, scale: 1.5, A: Float32Array.from({ length: r * lin.inDim }, () => rng.normal() * 0.3), B: Float32Array.from({ length: lin.outDim * r }, () => rng.normal() * 0.3) });
        loraGrads.set(lin.name, { A: new Float32Array(r * lin.inDim), B: new Float32Array(lin.outDim * r) });
      }
    }
  }
  const { dlogits, tape } = await loss(m, true, checkpoint);
  assert.equal(tape!.layers.every((t) => t === undefined), checkpoint, "a checkpointed tape keeps no block's intermediates");
  const grads = allocParams(m.cfg);
  await backward(m, tape!, { dlogits }, { grads, loraGrads });

  const eps = 1e-2;
  const numeric = async (arr: Float32Array, i: number) => {
    const old = arr[i];
    arr[i] = old + eps;
    const up = (await loss(m)).loss;
    arr[i] = old - eps;
    const down = (await loss(m)).loss;
    arr[i] = old;
    return (up - down) / (2 * eps);
  };
  let worst = 0;
  let checked = 0;
  const compare = async (name: string, param: Float32Array, grad: Float32Array) => {
    for (let k = 0; k < 3; k++) {
      const i = rng.int(0, param.length - 1);
      const num = await numeric(param, i);
      const err = Math.abs(grad[i] - num) / (Math.max(1, Math.abs(grad[i])) );
      worst = Math.max(worst, err);
      checked++;
      assert.ok(Math.abs(grad[i] - num) <= 2e-3 * Math.max(1, Math.abs(grad[i])) + 2e-3, `${name}[${i}]: analytic ${grad[i]}, numeric ${num}`);
    }
  };
  for (const [name, t] of m.params.tensors) await compare(name, t.data, grads.tensors.get(name)!.data);
  for (const [name, d] of m.lora) {
    await compare(`${name}.lora_A`, d.A, loraGrads.get(name)!.A);
    await compare(`${name}.lora_B`, d.B, loraGrads.get(name)!.B);
  }
  // the gradients are not trivially zero
  assert.ok(Math.max(...grads.groups.flatMap((g) => Array.from([...g.matrices, ...g.vectors], Math.abs))) > 1e-2);
  return { worst, checked };
}

for (const [name, config] of Object.entries({ "gpt_neox parallel": NEOX, "gpt_neox sequential": { ...NEOX, use_parallel_residual: false }, "llama GQA + biases": LLAMA, "mistral window": MISTRAL })) {
  for (const checkpoint of [false, true]) {
    const how = checkpoint ? "backward graphs (checkpointed)" : "JS backward (full tape)";
    test(`${name}, ${how}: every parameter's gradient matches finite differences`, async () => {
      const r = await check(config, false, checkpoint);
      console.log(`${name}, ${how}: ${r.checked} coordinates, worst scaled error ${r.worst.toExponential(2)}`);
    });
  }
}

test("LoRA A and B gradients (and the base weights' under LoRA) match finite differences", async () => {
  for (const config of [NEOX, LLAMA]) {
    for (const checkpoint of [false, true]) {
      const r = await check(config, true, checkpoint);
      console.log(`${config.model_type} + LoRA${checkpoint ? ", backward graphs" : ""}: ${r.checked} coordinates, worst scaled error ${r.worst.toExponential(2)}`);
    }
  }
});

test("cross-entropy gradient is softmax − one-hot, weighted", () => {
  const logits = Float32Array.from([1, 2, 3, 0, 0, 0]);
  const { loss, dlogits } = crossEntropy(logits, Int32Array.from([2, 0]), 3, Float32Array.from([1, 3]));
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  assert.ok(Math.abs(loss - (1 * (lse - 3) + 3 * Math.log(3)) / 4) < 1e-12);
  assert.ok(Math.abs(dlogits[2] - (Math.exp(3 - lse) - 1) / 4) < 1e-7);
  assert.ok(Math.abs(dlogits[3] - (3 * (1 / 3 - 1)) / 4) < 1e-7);
});

/**
 * The blocks' backward graphs (block-backward.ts: what a checkpointed step runs) against the JS backward over a full
 * tape (backward.ts, layer by layer): two algorithms for the same gradients, on every architecture and activation, with
 * LoRA on every part of every projection. They differ only in f32 summation order: |a − b| ≤ 1e-5 · max|a| per buffer.
 */
const GRAPH_CASES: Record<string, Record<string, unknown>> = {
  "gpt_neox parallel, gelu": NEOX,
  "gpt_neox sequential, gelu_new": { ...NEOX, use_parallel_residual: false, hidden_act: "gelu_new" },
  "gpt_neox relu, no rotary": { ...NEOX, hidden_act: "relu", rotary_pct: 0 },
  "llama GQA + biases, rope scaling": { ...LLAMA, rope_scaling: { rope_type: "linear", factor: 2 } },
  "mistral window": MISTRAL,
};
for (const [name, config] of Object.entries(GRAPH_CASES)) {
  test(`${name}: the backward graphs give the JS backward's gradients for every parameter and LoRA update`, async () => {
    const results: Float32Array[][] = [];
    for (const checkpoint of [false, true]) {
      const m = randomModel(config, 3, 0.3);
      const rng = new Rng(4, "checkpoint");
      const loraGrads = new Map<string, LoraGrad>();
      for (const layer of m.params.layers) {
        for (const lin of [...layer.qkv.parts, layer.o, ...layer.up.parts, layer.down]) {
          const r = lin === layer.o ? 3 : 2;
          m.lora.set(lin.name, { r, scale: 1.5, A: Float32Array.from({ length: r * lin.inDim }, () => rng.normal() * 0.3), B: Float32Array.from({ length: lin.outDim * r }, () => rng.normal() * 0.3) });
          loraGrads.set(lin.name, { A: new Float32Array(r * lin.inDim), B: new Float32Array(lin.outDim * r) });
        }
      }
      const { logits, tape } = await m.forward({ tokens: TOKENS, B: 2, T: 6, mask: MASK }, { logits: POSITIONS, tape: true, checkpoint });
      const grads = allocParams(m.cfg);
      await backward(m, tape!, { dlogits: crossEntropy(logits, TARGETS, m.cfg.vocabSize).dlogits }, { grads, loraGrads });
      results.push([...grads.groups.flatMap((g) => [g.matrices as Float32Array, g.vectors]), ...[...loraGrads.values()].flatMap((g) => [g.A, g.B])]);
    }
    const [js, graph] = results;
    let worst = 0;
    js.forEach((a, i) => {
      if (a.length === 0) return; // a group without vectors
      const scale = a.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
      let diff = 0;
      for (let k = 0; k < a.length; k++) diff = Math.max(diff, Math.abs(a[k] - graph[i][k]));
      worst = Math.max(worst, diff / Math.max(scale, 1e-30));
      assert.ok(diff <= 1e-5 * scale, `gradient buffer ${i}: max |JS − graph| ${diff} vs max |JS| ${scale}`);
      assert.ok(scale > 0, `gradient buffer ${i} is all zeros`);
    });
    console.log(`${name}: ${js.length} gradient buffers, worst max|JS − graph| / max|JS| ${worst.toExponential(2)}`);
  });
}

test("headLoss (logits a few rows at a time, in onnxruntime) gives crossEntropy's loss and backward's gradients from the whole logits", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "quirky-headloss-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  saveModel(randomModel(NEOX, 5, 0.3), dir, "BF16");
  const weights = Float32Array.from([1, 3, 0.5, 2]);
  const wsum = weights.reduce((a, w) => a + w, 0);
  for (const held of ["f32", "bf16"]) {
    const m = loadModel(dir, { weights: "resident" });
    if (held === "f32") m.widenWeights();
    const run = async (how: "whole" | "rows" | "one row") => {
      const grads = allocParams(m.cfg);
      const { logits, tape } = await m.forward({ tokens: TOKENS, B: 2, T: 6, mask: MASK }, { logits: POSITIONS, tape: true, headless: how !== "whole" });
      if (how === "whole") {
        const { loss, dlogits } = crossEntropy(logits, TARGETS, m.cfg.vocabSize, weights);
        await backward(m, tape!, { dlogits }, { grads });
        return { loss, grads };
      }
      assert.equal(logits.length, 0, "a headless forward computes no logits");
      const coef = weights.map((w) => w / wsum);
      const { nll, dh } = await headLoss(m, tape!, TARGETS, coef, { gradUnembed: grads.unembed, chunk: how === "one row" ? m.cfg.vocabSize : undefined });
      await backward(m, tape!, { dh }, { grads });
      return { loss: nll.reduce((a, l, i) => a + coef[i] * l, 0), grads };
    };
    const whole = await run("whole");
    for (const how of ["rows", "one row"] as const) {
      const got = await run(how);
      assert.ok(Math.abs(got.loss - whole.loss) < 1e-6 * Math.max(1, whole.loss), `${held} ${how}: loss ${got.loss} vs ${whole.loss}`);
      for (const [name, tw] of whole.grads.tensors) {
        const a = got.grads.tensors.get(name)!.data;
        const scale = Math.max(1e-3, ...Array.from(tw.data, Math.abs));
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - tw.data[i]) <= 1e-5 * scale, `${held} ${how}: ${name}[${i}] ${a[i]} vs ${tw.data[i]}`);
      }
    }
    assert.ok(whole.grads.unembed.some((v) => Math.abs(v) > 1e-3), "the unembedding's gradient is not zero");
  }
  await assert.rejects(async () => {
    const m = randomModel(NEOX, 5, 0.3);
    const { tape } = await m.forward({ tokens: TOKENS, B: 2, T: 6, mask: MASK }, { logits: POSITIONS, tape: true, headless: true });
    await headLoss(m, tape!, Int32Array.from([1, 2, 3, 13]), new Float32Array(4));
  }, /target 13 outside the vocabulary 0..12/);
});
