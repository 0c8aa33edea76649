import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readConfig } from "../src/model/config.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { readPeftAdapter } from "../src/model/lora.ts";
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from "../src/model/safetensors.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { tempDir } from "./helpers.ts";

const TINY = { model_type: "gpt_neox", vocab_size: 20, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, rotary_pct: 1 };

/** A safetensors file from a header object and raw data. */
function rawSafetensors(path: string, header: unknown, data: Uint8Array): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

/** The error must be one line and name the file. */
function oneLine(fn: () => unknown, file: string, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    const msg = (err as Error).message;
    assert.ok(!msg.includes("\n"), `one line: ${msg}`);
    assert.ok(msg.includes(file), `names ${file}: ${msg}`);
    assert.match(msg, re);
    return;
  }
  assert.fail(`expected an error matching ${re}`);
}

test("safetensors round trip: header layout as the Python library writes it", (t) => {
  const dir = tempDir(t);
  const p = join(dir, "x.safetensors");
  writeSafetensors(p, new Map([["b", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }], ["a", { shape: [1], data: Float32Array.from([7]), dtype: "F16" }]]), { format: "pt" });
  const bytes = readFileSync(p);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  assert.deepEqual(header.__metadata__, { format: "pt" });
  assert.deepEqual(header.a, { dtype: "F16", shape: [1], data_offsets: [0, 2] });
  assert.deepEqual(header.b, { dtype: "F32", shape: [2, 3], data_offsets: [2, 26] });
  assert.equal((8 + n) % 8, 0, "data aligned to 8 bytes");
  assert.equal(bytes.readFloatLE(8 + n + 2 + 4 * 5), 6);
  assert.equal(bytes.readUInt16LE(8 + n), 0x4700, "7 in f16");
  const back = readSafetensors(p);
  assert.deepEqual(back.get("b")!.data, Float32Array.from([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(back.get("a")!.data, Float32Array.from([7]));
});

test("malformed safetensors: truncated, bad offsets, overlaps, dtype × shape, unknown dtype — one-line errors", (t) => {
  const dir = tempDir(t);
  const f = (name: string) => join(dir, name);
  rawSafetensors(f("ok.safetensors"), { w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  assert.equal(readSafetensorsHeader(f("ok.safetensors")).tensors.size, 1);

  writeFileSync(f("tiny.safetensors"), Buffer.from([1, 2, 3]));
  oneLine(() => readSafetensorsHeader(f("tiny.safetensors")), "tiny.safetensors", /truncated/);
  rawSafetensors(f("short.safetensors"), { w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
  oneLine(() => readSafetensorsHeader(f("short.safetensors")), "short.safetensors", /run past the end of the data \(8 bytes; file truncated\?\)/);
  rawSafetensors(f("size.safetensors"), { w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(12));
  oneLine(() => readSafetensorsHeader(f("size.safetensors")), "size.safetensors", /F32 × \[3\] needs 12 bytes but data_offsets give 8/);
  rawSafetensors(f("overlap.safetensors"), { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
  oneLine(() => readSafetensorsHeader(f("overlap.safetensors")), "overlap.safetensors", /'a' and 'b' overlap/);
  rawSafetensors(f("dtype.safetensors"), { w: { dtype: "F8_E9", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
  oneLine(() => readSafetensorsHeader(f("dtype.safetensors")), "dtype.safetensors", /unknown dtype "F8_E9"/);
  rawSafetensors(f("int.safetensors"), { w: { dtype: "I32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  oneLine(() => readSafetensors(f("int.safetensors")), "int.safetensors", /is I32, expected a float dtype/);
  writeFileSync(f("json.safetensors"), Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{no!")]));
  oneLine(() => readSafetensorsHeader(f("json.safetensors")), "json.safetensors", /header is not valid JSON/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  writeFileSync(f("huge.safetensors"), huge);
  oneLine(() => readSafetensorsHeader(f("huge.safetensors")), "huge.safetensors", /header length/);
});

test("checkpoint folders: truncated weights, shape mismatch with config.json, missing tensors", (t) => {
  const dir = tempDir(t);
  const m = randomModel(TINY, 1);
  saveModel(m, join(dir, "good"));
  assert.deepEqual(loadModel(join(dir, "good")).params.groups, m.params.groups);

  saveModel(m, join(dir, "trunc"));
  const st = join(dir, "trunc", "model.safetensors");
  truncateSync(st, readFileSync(st).length - 10);
  oneLine(() => loadModel(join(dir, "trunc")), "model.safetensors", /run past the end|truncated/);

  saveModel(m, join(dir, "shape"));
  writeFileSync(join(dir, "shape", "config.json"), JSON.stringify({ ...TINY, intermediate_size: 12 }));
  oneLine(() => loadModel(join(dir, "shape")), "model.safetensors", /dense_h_to_4h.weight' has shape \[16,8\], config.json implies \[12,8\]/);

  mkdirSync(join(dir, "empty"));
  writeFileSync(join(dir, "empty", "config.json"), JSON.stringify(TINY));
  oneLine(() => loadModel(join(dir, "empty")), "empty", /no model.safetensors or model.safetensors.index.json/);

  // sharded: an index that names a tensor its shard lacks
  mkdirSync(join(dir, "sharded"));
  writeFileSync(join(dir, "sharded", "config.json"), JSON.stringify(TINY));
  const tensors = [...m.params.tensors];
  const half = Math.floor(tensors.length / 2);
  writeSafetensors(join(dir, "sharded", "model-00001-of-00002.safetensors"), new Map(tensors.slice(0, half)));
  writeSafetensors(join(dir, "sharded", "model-00002-of-00002.safetensors"), new Map(tensors.slice(half)));
  const weightMap = Object.fromEntries(tensors.map(([n], i) => [n, `model-0000${i < half ? 1 : 2}-of-00002.safetensors`]));
  writeFileSync(join(dir, "sharded", "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  assert.deepEqual(loadModel(join(dir, "sharded")).params.groups, m.params.groups, "sharded checkpoints load");
  weightMap[tensors[0][0]] = "model-00002-of-00002.safetensors";
  writeFileSync(join(dir, "sharded", "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
  oneLine(() => loadModel(join(dir, "sharded")), "model-00002-of-00002.safetensors", /the index says it holds 'gpt_neox.embed_in.weight', but it does not/);
});

test("config.json: missing, not JSON, unknown architecture, bad fields — one-line errors naming the file", (t) => {
  const dir = tempDir(t);
  const p = join(dir, "config.json");
  oneLine(() => readConfig(p), "config.json", /file not found/);
  writeFileSync(p, "{");
  oneLine(() => readConfig(p), "config.json", /not valid JSON/);
  writeFileSync(p, JSON.stringify({ model_type: "gpt2", n_embd: 8 }));
  oneLine(() => readConfig(p), "config.json", /unsupported architecture 'gpt2'; supported: gpt_neox \(Pythia\), llama, mistral/);
  writeFileSync(p, JSON.stringify({ ...TINY, hidden_size: "8" }));
  oneLine(() => readConfig(p), "config.json", /'hidden_size' must be a positive integer, got "8"/);
  writeFileSync(p, JSON.stringify({ ...TINY, num_attention_heads: 3 }));
  oneLine(() => readConfig(p), "config.json", /not divisible by num_attention_heads 3/);
  writeFileSync(p, JSON.stringify({ model_type: "llama", vocab_size: 8, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, rope_scaling: { type: "yarn" } }));
  oneLine(() => readConfig(p), "config.json", /rope_scaling .* is not supported/);
  writeFileSync(p, JSON.stringify({ ...TINY, hidden_act: "quick_gelu" }));
  oneLine(() => readConfig(p), "config.json", /unsupported hidden_act 'quick_gelu'/);
});

test("tokenizer.json: missing, not JSON, not a tokenizer — one-line errors; a real one encodes and decodes", (t) => {
  const dir = tempDir(t);
  const p = join(dir, "tokenizer.json");
  oneLine(() => loadTokenizer(dir), "tokenizer.json", /file not found/);
  writeFileSync(p, "[1, 2");
  oneLine(() => loadTokenizer(dir), "tokenizer.json", /not valid JSON/);
  writeFileSync(p, JSON.stringify({ version: "1.0", vocab: {} }));
  oneLine(() => loadTokenizer(dir), "tokenizer.json", /not a tokenizer.json: no model.type/);
  writeCharTokenizer(p);
  const tok = loadTokenizer(dir);
  assert.equal(tok.decode(tok.encode("12 + 30 = 42. Bob:")), "12 + 30 = 42. Bob:");
  assert.equal(tok.encode("ab").length, 2);
});

test("PEFT adapters: wrong base model, missing files, unsupported types — one-line errors", (t) => {
  const dir = tempDir(t);
  const m = randomModel(TINY, 1);
  oneLine(() => readPeftAdapter(dir, m), "adapter_config.json", /file not found/);
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "IA3", r: 4, lora_alpha: 4, target_modules: ["x"] }));
  oneLine(() => readPeftAdapter(dir, m), "adapter_config.json", /peft_type is "IA3"; only LORA/);
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj"] }));
  writeSafetensors(join(dir, "adapter_model.safetensors"), new Map([
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", { shape: [2, 8], data: new Float32Array(16) }],
    ["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", { shape: [8, 2], data: new Float32Array(16) }],
  ]));
  oneLine(() => readPeftAdapter(dir, m), "adapter_model.safetensors", /targets 'model.layers.0.self_attn.q_proj', which this model does not have \(wrong base model\?\)/);
  writeSafetensors(join(dir, "adapter_model.safetensors"), new Map([
    ["base_model.model.gpt_neox.layers.0.attention.dense.lora_A.weight", { shape: [2, 9], data: new Float32Array(18) }],
    ["base_model.model.gpt_neox.layers.0.attention.dense.lora_B.weight", { shape: [8, 2], data: new Float32Array(16) }],
  ]));
  oneLine(() => readPeftAdapter(dir, m), "adapter_model.safetensors", /do not fit a 8×8 layer with rank 2/);
});
