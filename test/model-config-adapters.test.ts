/**
 * What real checkpoints and adapters need: rope_scaling (linear, llama3) against independent computations of
 * transformers' formulas, GPT-NeoX's rotary_pct default, PEFT 0.7.1-loadable adapters (against the field list of
 * 0.7.1's LoraConfig kept as a fixture), and one-line errors with nothing written for bad adapters and configs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { parseConfig, readConfig, toHfConfig } from "../src/model/config.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { readPeftAdapter, writePeftAdapter, type LoraAdapter } from "../src/model/lora.ts";
import { ropeInvFreq } from "../src/model/rope.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import type { Transformer } from "../src/model/transformer.ts";
import { Rng } from "../src/util/rng.ts";
import { FIXTURES, runCli, runPython, tempDir } from "./helpers.ts";
import { llamaCppLastLogProbs } from "./reference/llamacpp.ts";

const LLAMA = { model_type: "llama", vocab_size: 40, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, rope_theta: 10000, max_position_embeddings: 512 };
const NEOX = { model_type: "gpt_neox", vocab_size: 40, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 48, max_position_embeddings: 128 };

/** The error must be one line and name the file. */
function oneLine(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (err: Error) => {
    assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
    assert.ok(err.message.includes(file), `names ${file}: ${err.message}`);
    assert.match(err.message, re);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// rope_scaling
// ---------------------------------------------------------------------------------------------------------------

/**
 * transformers' default / linear / llama3 inverse frequencies re-implemented in numpy float32, line by line from
 * `_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`, `_compute_llama3_parameters`.
 */
const NUMPY_ROPE = `
import json, math, sys
import numpy as np
out = []
for c in json.load(sys.stdin):
    dim, base = c["dim"], float(c["theta"])  # as a Python float, a scalar that keeps float32 (torch semantics)
    inv_freq = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim))
    s = c.get("scaling")
    if s and s["rope_type"] == "linear":
        inv_freq = inv_freq / s["factor"]
    elif s and s["rope_type"] == "llama3":
        factor, low_freq_factor, high_freq_factor = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old_context_len = s["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = np.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    assert inv_freq.dtype == np.float32, inv_freq.dtype
    out.append([float(x) for x in inv_freq])
print(json.dumps(out))
`;

const LLAMA31 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

test("rope_scaling llama3 and linear: inverse frequencies equal a numpy float32 port of transformers' formulas", () => {
  const cases = [
    { dim: 128, theta: 500000, scaling: LLAMA31 }, // Llama-3.1-8B / 70B
    { dim: 64, theta: 500000, scaling: { ...LLAMA31, factor: 32 } }, // Llama-3.2-1B
    { dim: 8, theta: 10000, scaling: { rope_type: "llama3", factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 } },
    { dim: 96, theta: 10000, scaling: { rope_type: "linear", factor: 4 } },
    { dim: 80, theta: 1e6, scaling: { rope_type: "linear", factor: 2.5 } },
    { dim: 128, theta: 500000, scaling: null },
  ];
  const ref: number[][] = JSON.parse(runPython(NUMPY_ROPE, JSON.stringify(cases)));
  let worst = 0;
  cases.forEach((c, k) => {
    const cfg = parseConfig({ ...LLAMA, hidden_size: c.dim * 4, head_dim: c.dim, rope_theta: c.theta, ...(c.scaling ? { rope_scaling: c.scaling } : {}) });
    const ours = ropeInvFreq(cfg.rotaryDims, cfg.ropeTheta, cfg.ropeScaling);
    assert.equal(ours.length, ref[k].length);
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[k][i]) / ref[k][i]);
  });
  console.log(`max relative difference to numpy float32: ${worst.toExponential(2)}`);
  // float32 throughout; the only freedom is powf's last bit
  assert.ok(worst <= 2.5e-7, `max relative difference ${worst}`);
});

test("Llama-3.1-8B's config.json loads", () => {
  const cfg = parseConfig({
    architectures: ["LlamaForCausalLM"], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: 128001, hidden_act: "silu",
    hidden_size: 4096, initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 131072, mlp_bias: false, model_type: "llama",
    num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
    rope_theta: 500000.0, tie_word_embeddings: false, torch_dtype: "bfloat16", transformers_version: "4.43.0.dev0", use_cache: true, vocab_size: 128256,
  });
  assert.deepEqual(cfg.ropeScaling, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  assert.equal(cfg.headDim, 128);
  assert.equal(cfg.nKvHeads, 8);
  assert.equal(cfg.maxPositions, 131072);
});

test("rope_scaling llama3 with Llama-3.1-8B's numbers, worked by hand from the formula", () => {
  // head_dim 128, θ = 500000: λ_i = 2π · 500000^(i/64). High-frequency band λ < 8192/4 = 2048 holds i ≤ 28
  // (500000^(28/64) = 311.2, 500000^(29/64) = 380.0 > 2048/2π = 325.9); low band λ > 8192 holds i ≥ 35
  // (500000^(35/64) = 1305.7 > 8192/2π = 1303.8 > 500000^(34/64) = 1069.3).
  const cfg = parseConfig({ ...LLAMA, hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 8, rope_theta: 500000, rope_scaling: LLAMA31, max_position_embeddings: 131072 });
  assert.equal(cfg.rotaryDims, 128);
  const inv = ropeInvFreq(128, 500000, cfg.ropeScaling);
  const plain = (i: number) => 500000 ** (-i / 64);
  const rel = (a: number, b: number) => Math.abs(a - b) / b;
  for (let i = 0; i <= 28; i++) assert.ok(rel(inv[i], plain(i)) < 1e-6, `i=${i} kept`);
  for (let i = 35; i < 64; i++) assert.ok(rel(inv[i], plain(i) / 8) < 1e-6, `i=${i} divided by 8`);
  for (let i = 29; i <= 34; i++) {
    const s = (8192 / ((2 * Math.PI) / plain(i)) - 1) / (4 - 1);
    const expected = (1 - s) * (plain(i) / 8) + s * plain(i);
    assert.ok(s > 0 && s < 1, `i=${i} is in the smoothed band (s = ${s})`);
    assert.ok(rel(inv[i], expected) < 1e-6, `i=${i}: ${inv[i]} vs ${expected}`);
  }
  assert.equal(inv[0], 1);
  // linear: every frequency divided by the factor
  const lin = ropeInvFreq(128, 500000, { type: "linear", factor: 8 });
  for (let i = 0; i < 64; i++) assert.ok(rel(lin[i], plain(i) / 8) < 1e-6);
});

test("the engine rotates with the scaled frequencies: neutral scalings change nothing, real ones change the output", async () => {
  const tokens = Int32Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 40);
  const logits = async (extra: Record<string, unknown>) => (await randomModel({ ...LLAMA, ...extra }, 3, 0.3).forward({ tokens, B: 1, T: 40 }, { logits: "all" })).logits;
  const plain = await logits({});
  // factor 1, and a llama3 band so wide that every wavelength (≤ 2π·10000^(7/8) ≈ 1991) counts as high frequency
  assert.deepEqual(await logits({ rope_scaling: { type: "linear", factor: 1 } }), plain);
  assert.deepEqual(await logits({ rope_scaling: { ...LLAMA31, original_max_position_embeddings: 1e6 } }), plain);
  assert.deepEqual(await logits({ rope_scaling: { rope_type: "default" } }), plain);
  const diff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  assert.ok(diff(await logits({ rope_scaling: { type: "linear", factor: 4 } }), plain) > 1e-3);
  assert.ok(diff(await logits({ rope_scaling: { ...LLAMA31, original_max_position_embeddings: 64 } }), plain) > 1e-3);
});

test("Llama with rope_scaling linear / llama3 agrees with llama.cpp (scaling as convert_hf_to_gguf.py writes it)", async () => {
  // head_dim 8, θ = 10000: wavelengths 6.3, 63, 628, 6283; original_max_position_embeddings 1024 puts them in the
  // kept / kept / smoothed / divided bands of llama3
  const softmax = (x: Float32Array) => {
    const m = Math.max(...x);
    const e = Float64Array.from(x, (v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };
  const rng = new Rng(5, "seqs");
  const sequences = [40, 300].map((n) => Array.from({ length: n }, () => rng.int(0, 39)));
  const lastProbs = async (config: Record<string, unknown>) => {
    const model = randomModel(config, 4, 0.3);
    const ours = [];
    for (const s of sequences) ours.push(softmax((await model.forward({ tokens: Int32Array.from(s), B: 1, T: s.length }, { logits: "last" })).logits));
    const ref = (await llamaCppLastLogProbs({ arch: "llama", config, tensors: model.params.tensors as never }, sequences)).map(softmax);
    return { ours, ref };
  };
  const maxDiff = (a: Float64Array[], b: Float64Array[]) => a.reduce((m, x, i) => x.reduce((mm, v, j) => Math.max(mm, Math.abs(v - b[i][j])), m), 0);
  const plain = await lastProbs(LLAMA);
  for (const rs of [{ type: "linear", factor: 4 }, { rope_type: "llama3", factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 }]) {
    const { ours, ref } = await lastProbs({ ...LLAMA, rope_scaling: rs });
    const d = maxDiff(ours, ref);
    const moved = maxDiff(ours, plain.ours);
    console.log(`${JSON.stringify(rs)}: max |Δp| vs llama.cpp ${d.toExponential(2)}; the scaling itself moves p by ${moved.toExponential(2)}`);
    assert.ok(d < 1e-5, `max |Δp| = ${d}`);
    assert.ok(moved > 100 * d, "the comparison can tell scaled from unscaled");
  }
});

test("rope_scaling survives toHfConfig; an unknown or malformed one is a one-line ConfigError naming config.json", (t) => {
  for (const rs of [{ type: "linear", factor: 2 }, LLAMA31]) {
    const cfg = parseConfig({ ...LLAMA, rope_scaling: rs });
    assert.deepEqual(parseConfig(toHfConfig(cfg)).ropeScaling, cfg.ropeScaling);
  }
  // llama3 without original_max_position_embeddings falls back to max_position_embeddings, as transformers does
  const { original_max_position_embeddings: _, ...noOrig } = LLAMA31;
  assert.equal((parseConfig({ ...LLAMA, rope_scaling: noOrig }).ropeScaling as { originalMaxPositions: number }).originalMaxPositions, 512);
  const dir = tempDir(t);
  const p = join(dir, "config.json");
  const bad = (rs: unknown, re: RegExp) => {
    writeFileSync(p, JSON.stringify({ ...LLAMA, rope_scaling: rs }));
    oneLine(() => readConfig(p), "config.json", re);
  };
  bad({ rope_type: "yarn", factor: 4 }, /rope_scaling type "yarn" is not supported \(supported: linear, llama3\)/);
  bad({ type: "dynamic", factor: 2 }, /rope_scaling type "dynamic" is not supported/);
  bad({ rope_type: "linear" }, /rope_scaling\.factor must be a positive number, got undefined/);
  bad({ ...LLAMA31, high_freq_factor: 1 }, /high_freq_factor \(1\) must be larger than low_freq_factor \(1\)/);
});

// ---------------------------------------------------------------------------------------------------------------
// GPT-NeoX rotary_pct
// ---------------------------------------------------------------------------------------------------------------

test("GPT-NeoX without rotary_pct rotates a quarter of each head (GPTNeoXConfig's default), and toHfConfig keeps it", () => {
  const cfg = parseConfig(NEOX); // head_dim 16
  assert.equal(cfg.rotaryDims, 4);
  const hf = toHfConfig(cfg);
  assert.equal(hf.rotary_pct, 0.25);
  assert.equal(parseConfig(hf).rotaryDims, 4);
  assert.equal(parseConfig({ ...NEOX, rotary_pct: 1 }).rotaryDims, 16);
  assert.equal(parseConfig(toHfConfig(parseConfig({ ...NEOX, rotary_pct: 1 }))).rotaryDims, 16);
});

// ---------------------------------------------------------------------------------------------------------------
// PEFT adapters
// ---------------------------------------------------------------------------------------------------------------

/** An adapter on every attention output projection, rank r. */
function tinyAdapter(model: Transformer, r: number, seed = 1): LoraAdapter {
  const rng = new Rng(seed, "adapter");
  const deltas: LoraAdapter["deltas"] = new Map();
  for (const layer of model.params.layers) {
    const lin = layer.o;
    deltas.set(lin.name, { r, scale: 2, A: Float32Array.from({ length: r * lin.inDim }, () => rng.normal()), B: Float32Array.from({ length: lin.outDim * r }, () => rng.normal()) });
  }
  return { config: { peft_type: "LORA", r, lora_alpha: 2 * r, target_modules: ["dense"], layers_to_transform: null }, deltas };
}

const PEFT_071 = JSON.parse(readFileSync(join(FIXTURES, "peft-0.7.1-lora-config-fields.json"), "utf8"));
const PEFT_071_FIELDS = new Set<string>([...Object.keys(PEFT_071.PeftConfigMixin), ...Object.keys(PEFT_071.PeftConfig), ...Object.keys(PEFT_071.LoraConfig)]);

/**
 * LoraConfig(**adapter_config) as PEFT 0.7.1 calls it (PeftConfigMixin.from_pretrained → config_cls(**kwargs)),
 * with a dataclass that has 0.7.1's fields and defaults: unknown keys raise TypeError exactly as there.
 */
const PEFT_071_INIT = `
import dataclasses, json, sys
fields, config = json.load(sys.stdin)
LoraConfig = dataclasses.make_dataclass("LoraConfig", [(k, object, dataclasses.field(default_factory=lambda v=v: v)) for k, v in fields.items()])
try:
    c = LoraConfig(**config)
    print(json.dumps({"ok": True, "r": c.r, "lora_alpha": c.lora_alpha, "target_modules": c.target_modules}))
except TypeError as e:
    print(json.dumps({"ok": False, "error": str(e)}))
`;

test("adapters written by `quirky train` load in PEFT 0.7.1: every key is a field of its LoraConfig", async (t) => {
  const dir = tempDir(t);
  const model = randomModel({ ...NEOX, vocab_size: 98 }, 1, 0.1); // the character tokenizer's 98 tokens
  const base = join(dir, "base");
  saveModel(model, base);
  writeCharTokenizer(join(base, "tokenizer.json"));
  const { dir: dataset } = await writeDataset(join(dir, "data"), "addition", { baseExamples: 200, nValidation: 50, nTest: 50 });
  const trained = runCli(["train", "--model", base, "--dataset", dataset, "--out", join(dir, "adapter"), "--steps", "2", "--batch-size", "4", "--max-eval", "4", "--lora-rank", "4", "--lora-alpha", "8", "--layers", "1"]);
  assert.equal(trained.code, 0, trained.stderr);
  const written = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
  const adapter = tinyAdapter(model, 4);
  for (const key of Object.keys(written)) assert.ok(PEFT_071_FIELDS.has(key), `'${key}' is not a field of PEFT 0.7.1's LoraConfig`);
  for (const key of ["peft_type", "task_type", "r", "lora_alpha", "target_modules", "layers_to_transform", "base_model_name_or_path", "bias"]) assert.ok(key in written, `'${key}' written`);
  assert.equal(written.peft_type, "LORA");
  assert.equal(written.task_type, "CAUSAL_LM");
  assert.equal("use_rslora" in written, false, "use_rslora (false: the default) is left out");
  assert.equal(written.base_model_name_or_path, base);
  assert.deepEqual(written.layers_to_transform, [1]);

  const fields = { ...PEFT_071.PeftConfigMixin, ...PEFT_071.PeftConfig, ...PEFT_071.LoraConfig };
  const init = (config: unknown) => JSON.parse(runPython(PEFT_071_INIT, JSON.stringify([fields, config])));
  assert.deepEqual(init(written), { ok: true, r: 4, lora_alpha: 8, target_modules: written.target_modules });
  // what the writer wrote before: PEFT 0.7.1 refuses it, so the check above can fail
  const old = init({ ...written, use_rslora: false });
  assert.equal(old.ok, false);
  assert.match(old.error, /unexpected keyword argument 'use_rslora'/);

  // keys of later PEFT versions are dropped when they hold their default, kept (and refused by 0.7.1) otherwise
  const dir2 = join(dir, "later");
  const later = { ...adapter.config, use_rslora: false, use_dora: false, layer_replication: null, qalora_group_size: 16, peft_version: "0.17.0" };
  writePeftAdapter(dir2, { ...adapter, config: later }, model);
  const w2 = JSON.parse(readFileSync(join(dir2, "adapter_config.json"), "utf8"));
  assert.deepEqual(Object.keys(w2).filter((k) => !PEFT_071_FIELDS.has(k)), []);
  assert.equal(w2.base_model_name_or_path, null, "unknown base model: PEFT's default (None)");
  writePeftAdapter(dir2, { ...adapter, config: { ...adapter.config, use_rslora: true } }, model);
  assert.equal(JSON.parse(readFileSync(join(dir2, "adapter_config.json"), "utf8")).use_rslora, true, "a non-default value is kept: 0.7.1 cannot express it");
  // and it reads back with the same scale and weights
  writePeftAdapter(dir2, adapter, model);
  const back = readPeftAdapter(dir2, model);
  for (const [path, d] of adapter.deltas) {
    assert.deepEqual(back.deltas.get(path)!.A, d.A);
    assert.equal(back.deltas.get(path)!.scale, 2);
  }
});

test("an adapter_config.json as PEFT 0.7.1's save_pretrained writes it (every field, sorted keys) is read", (t) => {
  const dir = tempDir(t);
  const model = randomModel(NEOX, 1, 0.1);
  const adapter = tinyAdapter(model, 4);
  writePeftAdapter(dir, adapter, model);
  // asdict(LoraConfig(...)) with the set target_modules turned into a list, json.dumps(..., sort_keys=True)
  const fields: Record<string, unknown> = { ...PEFT_071.PeftConfigMixin, ...PEFT_071.PeftConfig, ...PEFT_071.LoraConfig };
  const saved = { ...fields, peft_type: "LORA", task_type: "CAUSAL_LM", inference_mode: true, base_model_name_or_path: null, r: 4, lora_alpha: 8, target_modules: ["dense"] };
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(Object.fromEntries(Object.entries(saved).sort(([a], [b]) => (a < b ? -1 : 1))), null, 2));
  const back = readPeftAdapter(dir, model);
  assert.equal(back.deltas.size, adapter.deltas.size);
  for (const [path, d] of adapter.deltas) {
    assert.deepEqual(back.deltas.get(path)!.B, d.B);
    assert.equal(back.deltas.get(path)!.scale, 2, "lora_alpha / r");
  }
});

test("adapters: a rank that disagrees with r, a .bin-only folder, and another base model", (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(NEOX, 1, 0.1), join(dir, "tiny-neox"));
  const model = loadModel(join(dir, "tiny-neox"));
  const adapter = tinyAdapter(model, 4);
  const a = join(dir, "adapter");
  writePeftAdapter(a, adapter, model);
  const cfgPath = join(a, "adapter_config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, r: 8 }));
  oneLine(() => readPeftAdapter(a, model), "adapter_model.safetensors", /lora_A\.weight' has rank 4, but adapter_config\.json says r = 8/);

  const b = join(dir, "bin-only");
  mkdirSync(b);
  writeFileSync(join(b, "adapter_config.json"), JSON.stringify(cfg));
  writeFileSync(join(b, "adapter_model.bin"), "PK\x03\x04 (a torch.save zip)");
  oneLine(() => readPeftAdapter(b, model), "adapter_model.bin", /convert it with: python -c "import torch; from safetensors\.torch import save_file; .*save_file\(.*torch\.load\(.*adapter_model\.bin.*adapter_model\.safetensors/);

  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: "EleutherAI/pythia-410m" }));
  readPeftAdapter(a, model, warn);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /adapter_config\.json: base_model_name_or_path is 'EleutherAI\/pythia-410m', but the model loaded is '.*tiny-neox'/);
  for (const same of ["someone/tiny-neox", join(dir, "tiny-neox") + "/", "", null]) {
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: same }));
    readPeftAdapter(a, model, warn);
  }
  // so does the ORG/NAME of a Hugging Face cache snapshot folder
  const snapshot = join(dir, "hub", "models--EleutherAI--pythia-160m", "snapshots", "0123abcd");
  saveModel(randomModel(NEOX, 1, 0.1), snapshot);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: "EleutherAI/pythia-160m" }));
  readPeftAdapter(a, loadModel(snapshot), warn);
  // config.json's _name_or_path counts as the model's name too
  const c = JSON.parse(readFileSync(join(dir, "tiny-neox", "config.json"), "utf8"));
  writeFileSync(join(dir, "tiny-neox", "config.json"), JSON.stringify({ ...c, _name_or_path: "EleutherAI/pythia-410m" }));
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: "EleutherAI/pythia-410m" }));
  readPeftAdapter(a, loadModel(join(dir, "tiny-neox")), warn);
  assert.equal(warnings.length, 1, `no more warnings: ${warnings.slice(1).join(" | ")}`);
});

// ---------------------------------------------------------------------------------------------------------------
// the same bad inputs through the CLI: one line, exit 1, nothing written
// ---------------------------------------------------------------------------------------------------------------

test("CLI: rank mismatch, .bin-only adapter and unknown rope_scaling stop `quirky extract` / `quirky train` with one line, writing nothing", async (t) => {
  const dir = tempDir(t);
  const modelDir = join(dir, "tiny-neox");
  const model = randomModel(NEOX, 1, 0.1);
  saveModel(model, modelDir);
  writeCharTokenizer(join(modelDir, "tokenizer.json"));
  const good = join(dir, "adapter");
  writePeftAdapter(good, tinyAdapter(model, 4), model);
  const cfg = JSON.parse(readFileSync(join(good, "adapter_config.json"), "utf8"));
  const rank = join(dir, "rank");
  mkdirSync(rank);
  writeFileSync(join(rank, "adapter_config.json"), JSON.stringify({ ...cfg, r: 2 }));
  writeFileSync(join(rank, "adapter_model.safetensors"), readFileSync(join(good, "adapter_model.safetensors")));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "adapter_config.json"), JSON.stringify(cfg));
  writeFileSync(join(bin, "adapter_model.bin"), "not read");
  const yarn = join(dir, "yarn-model");
  mkdirSync(yarn);
  writeFileSync(join(yarn, "config.json"), JSON.stringify({ ...LLAMA, rope_scaling: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 128 } }));
  const { dir: dataset } = await writeDataset(join(dir, "data"), "addition", { baseExamples: 40, nValidation: 10, nTest: 10 });

  const cases: [string[], string, RegExp][] = [
    [["extract", "--model", modelDir, "--adapter", rank], "adapter_model.safetensors", /has rank 4, but adapter_config\.json says r = 2/],
    [["extract", "--model", modelDir, "--adapter", bin], "adapter_model.bin", /convert it with: python -c/],
    [["extract", "--model", yarn], "config.json", /rope_scaling type "yarn" is not supported/],
    [["train", "--model", yarn], "config.json", /rope_scaling type "yarn" is not supported/],
  ];
  for (const [args, file, re] of cases) {
    const out = join(dir, "out");
    const r = runCli([...args, "--dataset", dataset, "--out", out]);
    assert.equal(r.code, 1, `${args.join(" ")}: exit 1 (${r.stderr})`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.ok(lines[0].startsWith("quirky: ") && lines[0].includes(file), lines[0]);
    assert.match(lines[0], re);
    assert.equal(existsSync(out), false, `${args[0]} wrote nothing`);
  }
});
