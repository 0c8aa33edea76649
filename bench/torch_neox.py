"""
A minimal GPT-NeoX forward pass in PyTorch, for bench/engine.bench.ts: the same weights (an f32 model.safetensors +
config.json written by the bench), the same batch (B x T token ids, no padding), logits at the last position only.
Prints one JSON line: median seconds per forward (after one warm-up) and the logits of the timed batch, so the bench checks
that both engines computed the same thing before comparing their speed.

  /usr/bin/python3 bench/torch_neox.py <model-dir> <tokens.bin (int32, B*T)> B T reps threads
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{name}: {t['dtype']}"
        b, e = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).reshape(t["shape"]).copy())
    return out


def neox_forward(cfg, w, B, T, last_only, lora=None):
    """
    forward(tokens (B, T) int64) -> logits, (B, V) at the last position or (B, T, V) at every position.
    lora: module path -> (A (r, in), B (out, r), scale), added unmerged: y += scale * (x A^T) B^T.
    """
    C, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    D = C // H
    R = int(D * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]

    # rotary tables as Hugging Face's GPTNeoXRotaryEmbedding computes them (float32)
    inv_freq = 1.0 / (cfg["rotary_emb_base"] ** (torch.arange(0, R, 2).float() / R))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)

    def rotate_half(x):
        x1, x2 = x[..., : R // 2], x[..., R // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    def rope(x):  # (B, H, T, D): rotate the first R dims
        xr, xp = x[..., :R], x[..., R:]
        return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)

    def linear(x, module):
        y = torch.nn.functional.linear(x, w[f"{module}.weight"], w.get(f"{module}.bias"))
        if lora and module in lora:
            a, b, scale = lora[module]
            y = y + scale * torch.nn.functional.linear(torch.nn.functional.linear(x, a), b)
        return y

    def forward(tokens):
        x = w["gpt_neox.embed_in.weight"][tokens]  # (B, T, C)
        for i in range(L):
            p = f"gpt_neox.layers.{i}"
            h1 = torch.nn.functional.layer_norm(x, (C,), w[f"{p}.input_layernorm.weight"], w[f"{p}.input_layernorm.bias"], eps)
            qkv = linear(h1, f"{p}.attention.query_key_value")
            qkv = qkv.view(B, T, H, 3 * D).permute(0, 2, 1, 3)
            q, k, v = rope(qkv[..., :D]), rope(qkv[..., D : 2 * D]), qkv[..., 2 * D :]
            s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
            a = torch.softmax(s.masked_fill(causal, float("-inf")), dim=-1) @ v
            a = a.permute(0, 2, 1, 3).reshape(B, T, C)
            attn = linear(a, f"{p}.attention.dense")
            h2 = torch.nn.functional.layer_norm(x, (C,), w[f"{p}.post_attention_layernorm.weight"], w[f"{p}.post_attention_layernorm.bias"], eps)
            up = torch.nn.functional.gelu(linear(h2, f"{p}.mlp.dense_h_to_4h"))
            mlp = linear(up, f"{p}.mlp.dense_4h_to_h")
            x = x + attn + mlp
        h = torch.nn.functional.layer_norm(x[:, -1] if last_only else x, (C,), w["gpt_neox.final_layer_norm.weight"], w["gpt_neox.final_layer_norm.bias"], eps)
        return torch.nn.functional.linear(h, w["embed_out.weight"])

    return forward


def time_training(forward, tokens, targets, opt, steps):
    """Train `steps` steps (after a warm-up step): mean cross-entropy at every position, backward, opt.step.
    Returns (the median seconds per step, the warm-up step's loss)."""
    B, T = tokens.shape

    def step():
        loss = torch.nn.functional.cross_entropy(forward(tokens).reshape(B * T, -1), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
        return loss.item()

    first = step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return sorted(times)[steps // 2], first


def main():
    model_dir, tokens_path, B, T, reps, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = read_safetensors(f"{model_dir}/model.safetensors")
    tokens = torch.from_numpy(np.fromfile(tokens_path, dtype=np.int32).astype(np.int64)).view(B, T)
    forward = neox_forward(cfg, w, B, T, last_only=True)

    with torch.no_grad():
        logits = forward(tokens)  # warm-up
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            logits = forward(tokens)
            times.append(time.perf_counter() - t)
        seconds = sorted(times)[reps // 2]  # the median, as the bench takes quirky's
    print(json.dumps({"seconds": seconds, "torch": torch.__version__, "threads": torch.get_num_threads(), "logits": logits.flatten().tolist()}))


if __name__ == "__main__":
    main()
