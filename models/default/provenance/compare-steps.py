"""Replays compare-steps.ts in PyTorch: the same initial weights (OUT/init), the same 128 examples, N full-batch
AdamW steps (β2 0.95, weight decay 0.1 except norms and biases, warmup then cosine, clipping at norm 1) on the
appended blocks; prints the largest loss difference and, per tensor, |torch − ours| relative to the update."""
import json, os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep

out = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(1)
m = sweep.load_ours(os.path.join(out, "init"))
init = {k: v.clone() for k, v in m.state_dict().items()}
ex = json.load(open(os.path.join(out, "examples.json")))
cfg = json.load(open(os.path.join(out, "settings.json")))  # written by compare-steps.ts
params = [p for b in m.blocks[-cfg["blocks"]:] for p in b.parameters()]
for p in m.parameters():
    p.requires_grad_(False)
for p in params:
    p.requires_grad_(True)
lr = cfg["lr"]
opt = sweep.adamw(m, params, lr, cfg["weightDecay"])
sched = sweep.lr_factor(steps, cfg["warmupFrac"])
tok, mask = sweep.batchify(ex)
tgt = torch.tensor([r["c"][r["l"]] for r in ex])
losses = []
for s in range(steps):
    loss = F.cross_entropy(m(tok, mask)[:, -1], tgt)
    for g in opt.param_groups:
        g["lr"] = lr * sched(s)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    losses.append(loss.item())
ours = json.load(open(os.path.join(out, "losses.json")))
print(f"loss, step 1 → {steps}: torch {losses[0]:.6f} → {losses[-1]:.6f}, ours {ours[0]:.6f} → {ours[-1]:.6f}; "
      f"max |torch − ours| {max(abs(a - b) for a, b in zip(losses, ours)):.2e}")
after = sweep.load_ours(os.path.join(out, "after")).state_dict()
rel = {}
for k, v in m.state_dict().items():
    moved = (v - init[k]).abs().max().item()
    if moved > 0:
        rel[k] = (v - after[k]).abs().max().item() / moved
worst = max(rel, key=rel.get)
print(f"weights: {len(rel)} trained tensors, max |torch − ours| / max |update| {rel[worst]:.2e} ({worst}); "
      f"median {sorted(rel.values())[len(rel) // 2]:.2e}")
