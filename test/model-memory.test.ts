/**
 * The engine's memory: 16-bit checkpoints stay 16-bit in memory and give bit for bit what their f32 upcast gives;
 * streamed weights (block by block from the safetensors files) give bit for bit what resident ones give.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { linear, setWeightChunk, WEIGHT_CHUNK } from "../src/model/matmul.ts";
import { Half, toF32 } from "../src/model/params.ts";
import { writeSafetensors } from "../src/model/safetensors.ts";
import { linearModules } from "../src/model/lora.ts";
import type { Transformer } from "../src/model/transformer.ts";
import { backward, type LoraGrad } from "../src/train/backward.ts";
import { Rng } from "../src/util/rng.ts";
import { runCli, tempDir } from "./helpers.ts";

const NEOX = { model_type: "gpt_neox", vocab_size: 67, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 80, rotary_pct: 0.5, max_position_embeddings: 128 };
const LLAMA = { model_type: "llama", vocab_size: 67, hidden_size: 32, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 72, max_position_embeddings: 128 };
const MISTRAL = { ...LLAMA, model_type: "mistral", num_hidden_layers: 5, sliding_window: 4, tie_word_embeddings: true };
const CONFIGS = { gpt_neox: NEOX, llama: LLAMA, mistral: MISTRAL };

const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromBits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];

/** Nearest bf16 value (ties to even), by integer arithmetic on the f32 bits. */
const roundBf16 = (x: number) => {
  const u = bitsOf(x);
  return fromBits((((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16) >>> 0);
};

/** Nearest f16 value (ties to even), computed with doubles. */
function roundF16(x: number): number {
  if (x === 0) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const ulp = 2 ** (e - 10);
  const q = x / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q)) === 0.5 && r % 2 !== 0) r -= 1;
  return r * ulp;
}

/** A padded batch, then one more token per row on its cache (what extraction does), with every hook point recorded. */
async function run(m: Transformer): Promise<Float32Array[]> {
  const rng = new Rng(5, "tokens");
  const B = 3;
  const T = 7;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(0, 66));
  const mask = new Uint8Array(B * T).fill(1);
  mask.fill(0, T, T + 3); // row 1 left-padded by 3
  const seen: Float32Array[] = [];
  const hooks: Record<string, (x: Float32Array) => void> = {};
  for (const name of ["hook_embed", "ln_final.hook_normalized", ...Array.from({ length: m.cfg.nLayers }, (_, l) => `blocks.${l}.hook_resid_post`)]) {
    hooks[name] = (x) => void seen.push(x.slice());
  }
  const first = await m.forward({ tokens, B, T, mask }, { hooks, logits: "all", returnCache: true });
  const next = Int32Array.from({ length: B }, () => rng.int(0, 66));
  const second = await m.forward({ tokens: next, B, T: 1, cache: first.cache }, { hooks, logits: "last" });
  return [...seen, first.logits, second.logits];
}

function assertBitIdentical(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(a[i].length > 0);
    assert.deepEqual(new Uint32Array(a[i].buffer, a[i].byteOffset, a[i].length), new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length), `${what}: output ${i} differs`);
  }
}

for (const [arch, config] of Object.entries(CONFIGS)) {
  test(`${arch}: bf16 and f16 checkpoints held 16-bit give bit for bit the states and logits of their f32 upcast, resident or streamed`, async (t) => {
    const dir = tempDir(t);
    const m = randomModel(config, 3, 0.3);
    for (const dtype of ["BF16", "F16"] as const) {
      saveModel(m, join(dir, dtype), dtype);
      // the same weights as f32, rounded independently of the engine's encoder and decoder
      const up = randomModel(config, 0);
      for (const [name, { data }] of m.params.tensors) {
        const dst = up.params.tensors.get(name)!.data;
        for (let i = 0; i < data.length; i++) dst[i] = dtype === "BF16" ? roundBf16(data[i]) : roundF16(data[i]);
      }
      saveModel(up, join(dir, `${dtype}-as-f32`), "F32");
      const wide = loadModel(join(dir, `${dtype}-as-f32`), { weights: "resident" });
      assert.equal(wide.params.dtype, "F32");

      const low = loadModel(join(dir, dtype), { weights: "resident" });
      assert.equal(low.params.dtype, dtype);
      assert.ok(low.params.layers.every((layer) => layer.qkv.w instanceof Half && layer.down.w instanceof Half) && low.params.embed instanceof Half, "matrices held as 16-bit");
      const reference = await run(wide);
      assertBitIdentical(await run(low), reference, `${dtype} resident`);

      const streamed = loadModel(join(dir, dtype), { weights: "stream", log: () => {} });
      assert.equal(streamed.params.streamed, true);
      assertBitIdentical(await run(streamed), reference, `${dtype} streamed`);
      assertBitIdentical(await run(streamed), reference, `${dtype} streamed, second pass over the windows`);

      // every product sliced into weight chunks of a few rows (so the blocks take the per-layer path instead of one
      // graph each): still identical across dtypes, and within f32 rounding of the graphs (the same ops, in another
      // order and precision; both paths are held to Hugging Face's outputs in model-engine.test.ts)
      setWeightChunk(3 * 32);
      try {
        const sliced = await run(wide);
        assertBitIdentical(await run(low), sliced, `${dtype} resident, sliced products`);
        assertBitIdentical(await run(streamed), sliced, `${dtype} streamed, sliced products`);
        for (let i = 0; i < sliced.length; i++) {
          for (let j = 0; j < sliced[i].length; j++) assert.ok(Math.abs(sliced[i][j] - reference[i][j]) <= 1e-4 * (1 + Math.abs(reference[i][j])), "per-layer path with sliced products agrees with the block graphs");
        }
      } finally {
        setWeightChunk(WEIGHT_CHUNK);
      }
    }
  });
}

test("streamed f32 checkpoints, sharded over files, give bit for bit the resident model's states", async (t) => {
  const dir = tempDir(t);
  const m = randomModel(LLAMA, 8, 0.3);
  const tensors = [...m.params.tensors];
  const cut = Math.floor(tensors.length / 3);
  const shards = [tensors.slice(0, cut), tensors.slice(cut)];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, file), new Map(s.map(([n, v]) => [n, { shape: v.shape, data: v.data }])));
    for (const [n] of s) weightMap[n] = file;
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  writeFileSync(join(dir, "config.json"), JSON.stringify(LLAMA));
  const streamed = loadModel(dir, { weights: "stream", log: () => {} });
  assert.equal(streamed.params.dtype, "F32");
  assertBitIdentical(await run(streamed), await run(m), "f32 streamed");
});

test("weights: auto streams when the weights do not fit in the memory given, says why when asked to choose, and refuses unknown modes", async (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(NEOX, 1), dir, "BF16");
  const lines: string[] = [];
  const log = (l: string) => void lines.push(l);
  assert.equal(loadModel(dir, { weights: "auto", memory: 1e12, log }).params.streamed, false);
  assert.equal(loadModel(dir, { weights: "auto", memory: 1e6, log }).params.streamed, true);
  assert.deepEqual(lines, [], "small models choose silently");
  loadModel(dir, { weights: "stream", memory: 64 * 2 ** 30, log });
  loadModel(dir, { weights: "resident", memory: 64 * 2 ** 30, log });
  assert.equal(lines.length, 2);
  assert.match(lines[0], /weights streamed from disk block by block .*: 0\.00 GiB of bf16 weights, 64\.00 GiB of free memory; forced by the weights option/);
  assert.match(lines[1], /weights resident in memory: .*forced by the weights option/);

  const env = process.env.QUIRKY_WEIGHTS;
  t.after(() => (env === undefined ? delete process.env.QUIRKY_WEIGHTS : (process.env.QUIRKY_WEIGHTS = env)));
  process.env.QUIRKY_WEIGHTS = "stream";
  assert.equal(loadModel(dir, { log }).params.streamed, true);
  assert.match(lines[2], /forced by QUIRKY_WEIGHTS=stream/);
  process.env.QUIRKY_WEIGHTS = "disk";
  assert.throws(() => loadModel(dir, { log }), /^Error: QUIRKY_WEIGHTS: 'disk' is not one of resident, stream, auto$/);
});

test("16-bit weights widen to f32 for training with identical outputs; streamed ones refuse to record a tape", async (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(LLAMA, 2, 0.3), dir, "BF16");
  const m = loadModel(dir, { weights: "resident" });
  const before = await run(m);
  const wide = m.widenWeights();
  assert.equal(m.params.dtype, "F32");
  assert.ok(wide.layers[0].qkv.w instanceof Float32Array);
  assertBitIdentical(await run(m), before, "widened");
  const streamed = loadModel(dir, { weights: "stream", log: () => {} });
  await assert.rejects(streamed.forward({ tokens: Int32Array.of(1, 2), B: 1, T: 2 }, { tape: true }), /streamed model cannot record a tape/);
  assert.throws(() => streamed.widenWeights(), /streamed from disk/);
  assert.ok(toF32(m.params.embed) === m.params.embed, "f32 weights are used in place");
});

test("quirky extract --weights stream gives the same states file as --weights resident, and says which mode on stderr", async (t) => {
  const dir = tempDir(t);
  const ds = (await writeDataset(dir, "addition", { baseExamples: 60, nValidation: 30, nTest: 30 })).dir;
  const model = join(dir, "model");
  saveModel(randomModel({ ...NEOX, vocab_size: 98 }, 4, 0.3), model, "BF16");
  writeCharTokenizer(join(model, "tokenizer.json"));
  const files: Buffer[] = [];
  for (const mode of ["resident", "stream"]) {
    const out = join(dir, `states-${mode}`);
    const r = runCli(["extract", "--model", model, "--dataset", ds, "--max-examples", "12", "--batch-size", "5", "--out", out, "--weights", mode]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`quirky: model: weights ${mode === "stream" ? "streamed from disk block by block" : "resident in memory"}.*bf16 weights.*forced by QUIRKY_WEIGHTS=${mode}`));
    files.push(readFileSync(join(out, "states.safetensors")));
  }
  assert.ok(files[0].equals(files[1]), "states.safetensors identical byte for byte");
  const bad = runCli(["extract", "--model", model, "--dataset", ds, "--out", join(dir, "bad"), "--weights", "disk"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--weights.*disk/);
  assert.ok(!existsSync(join(dir, "bad")), "nothing written");
});

test("linear over a 16-bit weight, whole or in slices of output rows, equals f64 dot products of the decoded values", async () => {
  const rng = new Rng(11, "linear");
  const [M, K, N] = [5, 37, 29];
  const x = Float32Array.from({ length: M * K }, () => rng.normal());
  const bias = Float32Array.from({ length: N }, () => rng.normal());
  // f16 bits of normal-ish values; decoded independently: (−1)^s · 2^(e−15) · (1 + m/1024)
  const bits = Uint16Array.from({ length: N * K }, () => (rng.int(0, 1) << 15) | (rng.int(12, 17) << 10) | rng.int(0, 1023));
  const decode = (h: number) => (h & 0x8000 ? -1 : 1) * 2 ** (((h >> 10) & 31) - 15) * (1 + (h & 1023) / 1024);
  const w = new Half("F16", bits);
  for (const chunk of [WEIGHT_CHUNK, 4 * K, K]) {
    setWeightChunk(chunk);
    try {
      const y = await linear(x, w, M, K, N, bias);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let ref = bias[n];
          for (let k = 0; k < K; k++) ref += x[m * K + k] * decode(bits[n * K + k]);
          assert.ok(Math.abs(y[m * N + n] - ref) <= 1e-5 * (1 + Math.abs(ref)), `chunk ${chunk}: y[${m},${n}] = ${y[m * N + n]}, f64 ${ref}`);
        }
      }
    } finally {
      setWeightChunk(WEIGHT_CHUNK);
    }
  }
});

test("LoRA gradients through a bf16-held model equal, bit for bit, those through its f32 upcast", async (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(LLAMA, 6, 0.3), dir, "BF16");
  const low = loadModel(dir, { weights: "resident" });
  const wide = loadModel(dir, { weights: "resident" });
  wide.widenWeights();
  const grads: Map<string, LoraGrad>[] = [];
  for (const m of [low, wide]) {
    const rng = new Rng(9, "lora");
    const loraGrads = new Map<string, LoraGrad>();
    for (const [name, lin] of linearModules(m)) {
      m.lora.set(name, { r: 2, scale: 1.5, A: Float32Array.from({ length: 2 * lin.inDim }, () => rng.normal() * 0.3), B: Float32Array.from({ length: lin.outDim * 2 }, () => rng.normal() * 0.3) });
      loraGrads.set(name, { A: new Float32Array(2 * lin.inDim), B: new Float32Array(lin.outDim * 2) });
    }
    const tokens = Int32Array.from({ length: 2 * 6 }, () => rng.int(0, 66));
    const { logits, tape } = await m.forward({ tokens, B: 2, T: 6 }, { tape: true, logits: "all" });
    const dlogits = Float32Array.from(logits, () => rng.normal());
    await backward(m, tape!, { dlogits }, { loraGrads });
    grads.push(loraGrads);
  }
  assert.equal(low.params.dtype, "BF16");
  for (const [name, g] of grads[0]) {
    assertBitIdentical([g.A, g.B], [grads[1].get(name)!.A, grads[1].get(name)!.B], name);
    assert.ok(g.A.some((v) => v !== 0) && g.B.some((v) => v !== 0), `${name}: gradients not all zero`);
  }
});
