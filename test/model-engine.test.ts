import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { attachLora, mergeLora, readPeftAdapter, writePeftAdapter, type LoraAdapter } from "../src/model/lora.ts";
import { toF32 } from "../src/model/params.ts";
import { Transformer } from "../src/model/transformer.ts";
import { Rng } from "../src/util/rng.ts";
import { tempDir } from "./helpers.ts";

export const TINY_NEOX = { model_type: "gpt_neox", vocab_size: 61, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 80, rotary_pct: 0.5, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, max_position_embeddings: 128 };
export const TINY_LLAMA = { model_type: "llama", vocab_size: 61, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 72, rms_norm_eps: 1e-6, rope_theta: 10000, max_position_embeddings: 128 };
export const TINY_MISTRAL = { ...TINY_LLAMA, model_type: "mistral", sliding_window: 3 };

const CONFIGS = { gpt_neox: TINY_NEOX, "gpt_neox sequential": { ...TINY_NEOX, use_parallel_residual: false }, llama: TINY_LLAMA, mistral: TINY_MISTRAL };

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const seq = (n: number, seed: number) => {
  const r = new Rng(seed, "tokens");
  return Int32Array.from({ length: n }, () => r.int(0, 60));
};

for (const [name, config] of Object.entries(CONFIGS)) {
  test(`${name}: an example alone equals the same example inside a left-padded batch`, async () => {
    const m = randomModel(config, 1, 0.3);
    const a = seq(7, 1);
    const b = seq(11, 2);
    const alone = await m.forward({ tokens: a, B: 1, T: 7 }, { logits: "all" });
    // batch of two rows, T = 11: row 0 is `a` left-padded with 4 pad tokens
    const tokens = new Int32Array(22);
    const mask = new Uint8Array(22);
    tokens.set(a, 4);
    mask.fill(1, 4, 11);
    tokens.set(b, 11);
    mask.fill(1, 11, 22);
    const batch = await m.forward({ tokens, B: 2, T: 11, mask }, { logits: "all" });
    const V = m.cfg.vocabSize;
    assert.ok(maxAbsDiff(alone.logits, batch.logits.subarray(4 * V, 11 * V)) < 1e-5);
    const bAlone = await m.forward({ tokens: b, B: 1, T: 11 }, { logits: "last" });
    assert.ok(maxAbsDiff(bAlone.logits, batch.logits.subarray(21 * V, 22 * V)) < 1e-5);
  });

  test(`${name}: prompt then KV-cache continuation equals the full forward`, async () => {
    const m = randomModel(config, 2, 0.3);
    const full = seq(10, 3);
    const whole = await m.forward({ tokens: full, B: 1, T: 10 }, { logits: "all" });
    const first = await m.forward({ tokens: full.subarray(0, 6), B: 1, T: 6 }, { returnCache: true, logits: "none" });
    const rest = await m.forward({ tokens: full.subarray(6), B: 1, T: 4, cache: first.cache }, { logits: "all", returnCache: true });
    const V = m.cfg.vocabSize;
    assert.ok(maxAbsDiff(rest.logits, whole.logits.subarray(6 * V)) < 1e-5);
    // one token at a time, twice from the same cache (caches are not mutated)
    const one = await m.forward({ tokens: full.subarray(6, 7), B: 1, T: 1, cache: first.cache }, { logits: "last" });
    const again = await m.forward({ tokens: full.subarray(6, 7), B: 1, T: 1, cache: first.cache }, { logits: "last" });
    assert.ok(maxAbsDiff(one.logits, whole.logits.subarray(6 * V, 7 * V)) < 1e-5);
    assert.deepEqual(one.logits, again.logits);
    assert.equal(rest.cache!.T, 10);
  });

  test(`${name}: KV-cache continuation of a padded batch equals each row alone`, async () => {
    const m = randomModel(config, 3, 0.3);
    const a = seq(5, 4);
    const b = seq(8, 5);
    const tokens = new Int32Array(16);
    const mask = new Uint8Array(16);
    tokens.set(a, 3);
    mask.fill(1, 3, 8);
    tokens.set(b, 8);
    mask.fill(1, 8, 16);
    const p = await m.forward({ tokens, B: 2, T: 8, mask }, { returnCache: true, logits: "none" });
    const next = Int32Array.from([7, 9]);
    const cont = await m.forward({ tokens: next, B: 2, T: 1, cache: p.cache }, { logits: "last" });
    const V = m.cfg.vocabSize;
    const aFull = await m.forward({ tokens: Int32Array.from([...a, 7]), B: 1, T: 6 }, { logits: "last" });
    const bFull = await m.forward({ tokens: Int32Array.from([...b, 9]), B: 1, T: 9 }, { logits: "last" });
    assert.ok(maxAbsDiff(cont.logits.subarray(0, V), aFull.logits) < 1e-5);
    assert.ok(maxAbsDiff(cont.logits.subarray(V), bFull.logits) < 1e-5);
  });
}

test("mistral's sliding window: query i sees keys j with i − W < j ≤ i", async () => {
  // with W = 3, changing a token 3 or more positions back cannot change the output at layer 1 … but it can
  // through deeper layers; so use a one-layer model
  const m = randomModel({ ...TINY_MISTRAL, num_hidden_layers: 1 }, 4, 0.3);
  const a = seq(8, 6);
  const b = a.slice();
  b[4] = (b[4] + 1) % 61; // position 4 is 3 back from position 7: outside the window
  const la = await m.forward({ tokens: a, B: 1, T: 8 }, { logits: "all" });
  const lb = await m.forward({ tokens: b, B: 1, T: 8 }, { logits: "all" });
  const V = 61;
  assert.ok(maxAbsDiff(la.logits.subarray(7 * V), lb.logits.subarray(7 * V)) < 1e-6, "position 7 does not see position 4");
  assert.ok(maxAbsDiff(la.logits.subarray(6 * V, 7 * V), lb.logits.subarray(6 * V, 7 * V)) > 1e-4, "position 6 sees position 4");
  const llama = randomModel({ ...TINY_LLAMA, num_hidden_layers: 1 }, 4, 0.3);
  const ma = await llama.forward({ tokens: a, B: 1, T: 8 }, { logits: "last" });
  const mb = await llama.forward({ tokens: b, B: 1, T: 8 }, { logits: "last" });
  assert.ok(maxAbsDiff(ma.logits, mb.logits) > 1e-4, "without a window position 7 sees position 4");
});

test("hook points: a zero edit changes nothing, a real edit changes the output, names are as documented", async () => {
  const m = randomModel(TINY_NEOX, 5, 0.3);
  const tokens = seq(6, 7);
  const base = await m.forward({ tokens, B: 1, T: 6 });
  const seen: string[] = [];
  const hooks: Record<string, (x: Float32Array) => void> = {};
  for (const name of ["hook_embed", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "blocks.2.hook_resid_post", "ln_final.hook_normalized"]) {
    hooks[name] = (x) => {
      seen.push(name);
      for (let i = 0; i < x.length; i++) x[i] += 0;
    };
  }
  const same = await m.forward({ tokens, B: 1, T: 6 }, { hooks });
  assert.deepEqual(same.logits, base.logits);
  assert.deepEqual(seen, ["hook_embed", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "blocks.2.hook_resid_post", "ln_final.hook_normalized"]);
  const edited = await m.forward({ tokens, B: 1, T: 6 }, { hooks: { "blocks.1.hook_resid_post": (x, s) => { x[(s.T - 1) * s.C] += 1; } } });
  assert.ok(maxAbsDiff(edited.logits, base.logits) > 1e-4);
  // the edit at the last position does not reach earlier positions
  const all0 = await m.forward({ tokens, B: 1, T: 6 }, { logits: "all" });
  const all1 = await m.forward({ tokens, B: 1, T: 6 }, { logits: "all", hooks: { "blocks.1.hook_resid_post": (x, s) => { x[(s.T - 1) * s.C] += 1; } } });
  assert.ok(maxAbsDiff(all0.logits.subarray(0, 5 * 61), all1.logits.subarray(0, 5 * 61)) === 0);
});

test("f16 and bf16 checkpoints equal their f32 upcast", async (t) => {
  const dir = tempDir(t);
  const m = randomModel(TINY_LLAMA, 6, 0.3);
  for (const dtype of ["F16", "BF16"] as const) {
    saveModel(m, join(dir, dtype), dtype);
    const low = loadModel(join(dir, dtype));
    // the f32 upcast of the stored values, made independently: round each weight through the format
    const up = randomModel(TINY_LLAMA, 0);
    const f16 = new Float32Array(1);
    for (const [name, { data }] of m.params.tensors) {
      const dst = up.params.tensors.get(name)!.data;
      for (let i = 0; i < data.length; i++) {
        if (dtype === "BF16") {
          // round to nearest even on the top 16 bits
          const u = new Uint32Array(new Float32Array([data[i]]).buffer)[0];
          dst[i] = new Float32Array(new Uint32Array([((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16]).buffer)[0];
        } else {
          f16[0] = data[i];
          dst[i] = roundToF16(f16[0]);
        }
      }
    }
    assert.equal(low.params.dtype, dtype, "16-bit weights stay 16-bit in memory");
    for (const [name, t] of low.params.tensors) assert.deepEqual(toF32(t.data), up.params.tensors.get(name)!.data, name);
    const tokens = seq(5, 8);
    assert.deepEqual((await low.forward({ tokens, B: 1, T: 5 })).logits, (await up.forward({ tokens, B: 1, T: 5 })).logits);
  }
});

/** Nearest f16 value, ties to even, computed with doubles (independent of the bit-twiddling encoder). */
function roundToF16(x: number): number {
  if (x === 0) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const ulp = 2 ** (e - 10);
  const q = x / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q)) === 0.5 && r % 2 !== 0) r -= 1; // Math.round rounds halves up: step down to the even one
  return r * ulp;
}

test("a LoRA adapter applied unmerged equals the merged weights, and survives a PEFT round trip", async (t) => {
  const dir = tempDir(t);
  const cases: [typeof TINY_NEOX | typeof TINY_LLAMA, string[]][] = [
    [TINY_NEOX, ["query_key_value", "dense_h_to_4h", "dense_4h_to_h"]],
    [TINY_LLAMA, ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]],
    // some parts of a fused group only (PEFT's default for Llama is q_proj, v_proj): the others get no update
    [TINY_LLAMA, ["q_proj", "v_proj", "up_proj"]],
  ];
  for (const [config, targets] of cases) {
    const m = randomModel(config, 9, 0.3);
    const rng = new Rng(10);
    const adapter: LoraAdapter = { config: { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: targets }, deltas: new Map() };
    for (const layer of m.params.layers) {
      for (const lin of [...layer.qkv.parts, layer.o, ...layer.up.parts, layer.down]) {
        if (!targets.some((s) => lin.name.endsWith(s))) continue;
        adapter.deltas.set(lin.name, {
          r: 4,
          scale: 2,
          A: Float32Array.from({ length: 4 * lin.inDim }, () => rng.normal() * 0.2),
          B: Float32Array.from({ length: lin.outDim * 4 }, () => rng.normal() * 0.2),
        });
      }
    }
    const tokens = seq(9, 11);
    const base = (await m.forward({ tokens, B: 1, T: 9 }, { logits: "all" })).logits;
    attachLora(m, adapter);
    const unmerged = (await m.forward({ tokens, B: 1, T: 9 }, { logits: "all" })).logits;
    assert.ok(maxAbsDiff(unmerged, base) > 1e-3, "the adapter changes the output");
    // PEFT round trip, then merged into a fresh copy of the base weights
    const adir = join(dir, `${config.model_type}-${targets.length}`);
    writePeftAdapter(adir, adapter, m, "tiny");
    const fresh = randomModel(config, 9, 0.3);
    const reread = readPeftAdapter(adir, fresh);
    assert.equal(reread.deltas.size, adapter.deltas.size);
    await mergeLora(fresh, reread);
    const merged = (await fresh.forward({ tokens, B: 1, T: 9 }, { logits: "all" })).logits;
    assert.ok(maxAbsDiff(unmerged, merged) < 1e-4, `unmerged vs merged: ${maxAbsDiff(unmerged, merged)}`);
  }
});

export { maxAbsDiff, Transformer };

test("appending identity blocks leaves every output unchanged", async () => {
  const { appendIdentityBlocks } = await import("../src/model/load.ts");
  for (const [config, count] of [[TINY_NEOX, 1], [TINY_LLAMA, 2]] as const) {
    const m = randomModel(config, 12, 0.3);
    const grown = appendIdentityBlocks(m, count, 3);
    assert.equal(grown.cfg.nLayers, m.cfg.nLayers + count);
    const tokens = seq(7, 13);
    assert.deepEqual((await grown.forward({ tokens, B: 1, T: 7 }, { logits: "all" })).logits, (await m.forward({ tokens, B: 1, T: 7 }, { logits: "all" })).logits);
  }
});
