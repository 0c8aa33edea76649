"""
PyTorch's side of bench/train.bench.ts: one training step of the same GPT-NeoX (bench/torch_neox.py's forward, the
weights the bench wrote), on the same batch: logits at every position, mean cross-entropy against the same targets,
backward, torch.optim.AdamW (same lr, weight decay, betas, eps as quirky's AdamW defaults the bench passes).
Prints one JSON line: the median seconds per step over `steps` steps (after one warm-up step), and the loss of the
first step, so the bench checks both sides computed the same thing.

  /usr/bin/python3 bench/torch_train.py <model-dir> <tokens.bin> <targets.bin> B T steps threads lr weight_decay beta1 beta2 eps
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_neox import neox_forward, read_safetensors, time_training  # noqa: E402


def main():
    model_dir, tokens_path, targets_path = sys.argv[1:4]
    B, T, steps, threads = map(int, sys.argv[4:8])
    lr, weight_decay, beta1, beta2, eps = map(float, sys.argv[8:13])
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = {k: torch.nn.Parameter(v) for k, v in read_safetensors(f"{model_dir}/model.safetensors").items()}
    tokens = torch.from_numpy(np.fromfile(tokens_path, dtype=np.int32).astype(np.int64)).view(B, T)
    targets = torch.from_numpy(np.fromfile(targets_path, dtype=np.int32).astype(np.int64)).view(B * T)
    forward = neox_forward(cfg, w, B, T, last_only=False)
    opt = torch.optim.AdamW(list(w.values()), lr=lr, weight_decay=weight_decay, betas=(beta1, beta2), eps=eps)

    seconds, first = time_training(forward, tokens, targets, opt, steps)
    print(json.dumps({"seconds": seconds, "first_loss": first, "torch": torch.__version__, "threads": torch.get_num_threads()}))

if __name__ == "__main__":
    main()
