/**
 * The forward pass against an independent implementation: llama.cpp (through node-llama-cpp), given the same
 * weights as an F32 GGUF written by test/reference/llamacpp.ts. Next-token distributions at the last position
 * must agree, through both paths of the forward pass (blocks as one graph each, and layer by layer).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomModel } from "../src/model/load.ts";
import { setWeightChunk, WEIGHT_CHUNK } from "../src/model/matmul.ts";
import { Rng } from "../src/util/rng.ts";
import { llamaCppLastLogProbs } from "./reference/llamacpp.ts";

const NEOX = { model_type: "gpt_neox", vocab_size: 64, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, rotary_pct: 0.25, rotary_emb_base: 10000, layer_norm_eps: 1e-5, max_position_embeddings: 512, hidden_act: "gelu" };
const LLAMA = { model_type: "llama", vocab_size: 64, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, rms_norm_eps: 1e-6, rope_theta: 10000, max_position_embeddings: 512 };

function softmax(x: Float32Array): Float64Array {
  const m = Math.max(...x);
  const e = Float64Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The worst difference over both forward paths: each block as one graph, and per layer (weights sliced, so no block fits one graph). */
async function maxProbDiff(config: Record<string, unknown>, seed: number): Promise<number> {
  let worst = 0;
  for (const chunk of [WEIGHT_CHUNK, 32]) {
    setWeightChunk(chunk);
    try {
      worst = Math.max(worst, await maxProbDiffOnePath(config, seed));
    } finally {
      setWeightChunk(WEIGHT_CHUNK);
    }
  }
  return worst;
}

async function maxProbDiffOnePath(config: Record<string, unknown>, seed: number): Promise<number> {
  const model = randomModel(config, seed, 0.2);
  const rng = new Rng(seed, "seqs");
  const sequences = [1, 7, 23, 64].map((n) => Array.from({ length: n }, () => rng.int(0, 63)));
  const ref = await llamaCppLastLogProbs({ arch: model.cfg.arch === "gpt_neox" ? "gpt_neox" : "llama", config, tensors: model.params.tensors }, sequences);
  let worst = 0;
  for (let i = 0; i < sequences.length; i++) {
    const ours = await model.forward({ tokens: Int32Array.from(sequences[i]), B: 1, T: sequences[i].length }, { logits: "last" });
    const p = softmax(ours.logits);
    const q = softmax(ref[i]);
    for (let j = 0; j < p.length; j++) worst = Math.max(worst, Math.abs(p[j] - q[j]));
  }
  return worst;
}

test("llama (GQA 4 heads / 2 KV heads, RMSNorm, SwiGLU, rotary) agrees with llama.cpp to 1e-5", async () => {
  const d = await maxProbDiff(LLAMA, 1);
  console.log(`llama: max |Δp| = ${d.toExponential(2)}`);
  assert.ok(d < 1e-5, `max |Δp| = ${d}`);
  const mha = await maxProbDiff({ ...LLAMA, num_key_value_heads: 4, rope_theta: 1e6 }, 2);
  assert.ok(mha < 1e-5, `MHA: max |Δp| = ${mha}`);
});

test("gpt_neox (parallel and sequential residual, partial rotary, fused qkv) agrees with llama.cpp", async () => {
  // llama.cpp computes GELU with the tanh approximation from an f16 lookup table, HF's "gelu" is exact (erf);
  // at these sizes the difference stays under 1e-4 (measured: 6e-5), and with the tanh form ("gelu_new") on our
  // side only llama.cpp's f16 table separates the two.
  for (const [name, config, tol] of [
    ["parallel, gelu_new", { ...NEOX, hidden_act: "gelu_new" }, 1e-4],
    ["sequential, gelu_new", { ...NEOX, hidden_act: "gelu_new", use_parallel_residual: false }, 1e-4],
    ["parallel, exact gelu", NEOX, 1e-4],
    ["rotary_pct 1, base 500, exact gelu", { ...NEOX, rotary_pct: 1, rotary_emb_base: 500 }, 1e-4],
  ] as const) {
    const d = await maxProbDiff(config, 3);
    console.log(`gpt_neox ${name}: max |Δp| = ${d.toExponential(2)}`);
    assert.ok(d < tol, `${name}: max |Δp| = ${d}`);
  }
});

test("the comparison can fail: a wrong residual wiring is caught", async () => {
  // our model sequential, llama.cpp told it is parallel
  const model = randomModel({ ...NEOX, use_parallel_residual: false }, 4, 0.2);
  const seq = [5, 9, 2, 33, 7];
  const [ref] = await llamaCppLastLogProbs({ arch: "gpt_neox", config: { ...NEOX, use_parallel_residual: true }, tensors: model.params.tensors }, [seq]);
  const ours = await model.forward({ tokens: Int32Array.from(seq), B: 1, T: seq.length }, { logits: "last" });
  const p = softmax(ours.logits);
  const q = softmax(ref);
  assert.ok(Math.max(...p.map((v, j) => Math.abs(v - q[j]))) > 1e-2);
});
