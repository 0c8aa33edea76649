"""
HF transformers' GPT-NeoX forward on the CUDA card, for bench/device.bench.ts: the same config (random init, f16), a
random batch of B x T token ids, logits at the last position only (as extraction needs). Prints one JSON line: the
median seconds per forward after one warm-up, with torch.cuda.synchronize() around each.

  /usr/bin/python3 bench/torch_device.py '<config json>' B T reps
"""
import json
import sys
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

cfg, B, T, reps = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cfg.pop("model_type", None)
torch.manual_seed(0)
with torch.device("cuda"):
    model = GPTNeoXForCausalLM(GPTNeoXConfig(**cfg)).half().eval()
tokens = torch.randint(0, cfg["vocab_size"], (B, T), device="cuda")


@torch.no_grad()
def forward():
    h = model.gpt_neox(input_ids=tokens).last_hidden_state  # (B, T, C), after the final norm
    return model.embed_out(h[:, -1])  # (B, V)


forward()
times = []
for _ in range(reps):
    torch.cuda.synchronize()
    t = time.perf_counter()
    forward()
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": sorted(times)[len(times) // 2]}))
