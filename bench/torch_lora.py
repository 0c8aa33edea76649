"""
PyTorch's side of bench:train's LoRA step: the bench's GPT-NeoX (f32 model.safetensors + config.json) with its
frozen base weights (no gradients), LoRA updates from lora.safetensors ("<module>.lora_A" (r, in), "<module>.lora_B"
(out, r)) applied unmerged with scale alpha/r, logits at every position, mean cross-entropy against the targets,
backward into the LoRA parameters only, torch.optim.AdamW over them. Prints one JSON line: median seconds per step
(after a warm-up step), the first step's loss, and this process's peak RSS.

  /usr/bin/python3 bench/torch_lora.py <dir> B T steps threads scale lr weight_decay beta1 beta2 eps
"""
import json
import os
import resource
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_neox import neox_forward, read_safetensors, time_training  # noqa: E402


def main():
    d = sys.argv[1]
    B, T, steps, threads = map(int, sys.argv[2:6])
    scale, lr, weight_decay, beta1, beta2, eps = map(float, sys.argv[6:12])
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{d}/config.json"))
    w = read_safetensors(f"{d}/model.safetensors")  # plain tensors: frozen, no gradients
    adapters = read_safetensors(f"{d}/lora.safetensors")
    lora = {}
    for name in adapters:
        if name.endswith(".lora_A"):
            module = name[: -len(".lora_A")]
            lora[module] = (torch.nn.Parameter(adapters[name]), torch.nn.Parameter(adapters[f"{module}.lora_B"]), scale)
    tokens = torch.from_numpy(np.fromfile(f"{d}/tokens.bin", dtype=np.int32).astype(np.int64)).view(B, T)
    targets = torch.from_numpy(np.fromfile(f"{d}/targets.bin", dtype=np.int32).astype(np.int64)).view(B * T)
    forward = neox_forward(cfg, w, B, T, last_only=False, lora=lora)
    params = [p for a, b, _ in lora.values() for p in (a, b)]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(beta1, beta2), eps=eps)

    seconds, first = time_training(forward, tokens, targets, opt, steps)
    print(json.dumps({"seconds": seconds, "first_loss": first, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))

if __name__ == "__main__":
    main()
