"""
HF transformers' GPT-NeoX on the CUDA card, for bench/device.bench.ts: the same config (random init, f16), a random
batch of B x T token ids. Prints one JSON line: the median seconds per call after one warm-up, with
torch.cuda.synchronize() around each, of

  forward   the forward with logits at the last position only (as extraction needs)
  lora      a LoRA training step as quirky's: rank 8, alpha 16, unmerged f32 adapters on query_key_value,
            dense_h_to_4h and dense_4h_to_h (A uniform ±1/sqrt(in), B small random), cross-entropy at the last
            position, backward into the adapters only, torch.optim.AdamW (lr 1e-4)

  /usr/bin/python3 bench/torch_device.py '<config json>' B T reps [forward|lora]
"""
import json
import sys
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

cfg, B, T, reps = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "forward"
cfg.pop("model_type", None)
torch.manual_seed(0)
with torch.device("cuda"):
    model = GPTNeoXForCausalLM(GPTNeoXConfig(**cfg)).half().eval()
tokens = torch.randint(0, cfg["vocab_size"], (B, T), device="cuda")


@torch.no_grad()
def forward():
    h = model.gpt_neox(input_ids=tokens).last_hidden_state  # (B, T, C), after the final norm
    return model.embed_out(h[:, -1])  # (B, V)


def lora_step_fn():
    r, scale = 8, 16 / 8
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in ("query_key_value", "dense_h_to_4h", "dense_4h_to_h"):
            bound = 1 / mod.in_features ** 0.5
            A = torch.nn.Parameter((torch.rand(r, mod.in_features, device="cuda") * 2 - 1) * bound)
            Bm = torch.nn.Parameter((torch.rand(mod.out_features, r, device="cuda") * 2 - 1) * 0.01)
            params += [A, Bm]

            def hooked(x, mod=mod, A=A, Bm=Bm, base=mod.forward):
                return base(x) + (scale * ((x.float() @ A.T) @ Bm.T)).to(x.dtype)

            mod.forward = hooked
    opt = torch.optim.AdamW(params, lr=1e-4)
    targets = tokens[:, 0]

    def step():
        h = model.gpt_neox(input_ids=tokens).last_hidden_state[:, -1]
        loss = torch.nn.functional.cross_entropy(model.embed_out(h).float(), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


fn = lora_step_fn() if mode == "lora" else forward
fn()
times = []
for _ in range(reps):
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": sorted(times)[len(times) // 2]}))
