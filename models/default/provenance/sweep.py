"""
A PyTorch replica of the embedded default's two-stage recipe (scripts/train-default.sh), to explore its settings
fast on a GPU; the shipped model is always trained by `quirky train` itself. See README.md here.

    python3 sweep.py SPECS.json OUT.jsonl      # SPECS: a JSON list of run settings (keys: see run())

The model is GPT-NeoX as our engine runs it (parallel residual, rotary on 25% of each head, exact GELU, left
padding with positions counting real tokens); load_ours() reads our checkpoints, and its log-odds match the engine's
to float32 rounding on the shipped default. The recipe: AdamW (β2 0.95, weight decay except biases and norms), linear
warmup then cosine, clipping at norm 1, classes balanced by undersampling, answer loss on the first choice token,
next-token auxiliary loss in stage 1, best weights by validation loss at log-spaced steps.
"""
import json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEV = "cuda" if torch.cuda.is_available() else "cpu"
torch.set_num_threads(2)


class Block(nn.Module):
    def __init__(s, C, H, R):
        super().__init__()
        s.H, s.D, s.R = H, C // H, R
        s.ln1, s.ln2 = nn.LayerNorm(C, eps=1e-5), nn.LayerNorm(C, eps=1e-5)
        s.qkv, s.o = nn.Linear(C, 3 * C), nn.Linear(C, C)
        s.up, s.down = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(s, x, cos, sin, amask):
        B, T, C = x.shape
        h = s.ln1(x)
        qkv = s.qkv(h).view(B, T, s.H, 3 * s.D)
        q, k, v = qkv[..., : s.D], qkv[..., s.D : 2 * s.D], qkv[..., 2 * s.D :]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B,H,T,D)
        def rope(t):
            r, p = t[..., : s.R], t[..., s.R :]
            r1, r2 = r[..., : s.R // 2], r[..., s.R // 2 :]
            rot = torch.cat([-r2, r1], -1)
            return torch.cat([r * cos + rot * sin, p], -1)
        q, k = rope(q), rope(k)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(s.D)
        att = att.masked_fill(~amask, float("-inf")).softmax(-1)
        a = att @ v
        a = s.o(a.transpose(1, 2).reshape(B, T, C))
        m = s.down(F.gelu(s.up(s.ln2(x))))
        return x + a + m


class NeoX(nn.Module):
    def __init__(s, V=98, C=128, L=4, H=4, rotary_pct=0.25):
        super().__init__()
        s.C, s.H, s.R = C, H, int(C // H * rotary_pct)
        s.emb = nn.Embedding(V, C)
        s.blocks = nn.ModuleList([Block(C, H, s.R) for _ in range(L)])
        s.lnf = nn.LayerNorm(C, eps=1e-5)
        s.unemb = nn.Linear(C, V, bias=False)

    def forward(s, tok, mask, hidden=False):
        B, T = tok.shape
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        inv = 1.0 / (10000 ** (torch.arange(0, s.R, 2, device=tok.device).float() / s.R))
        ang = pos[..., None].float() * inv  # (B,T,R/2)
        ang = torch.cat([ang, ang], -1)[:, None]  # (B,1,T,R)
        cos, sin = ang.cos(), ang.sin()
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tok.device))
        amask = causal[None, None] & mask.bool()[:, None, None, :]
        amask = amask | torch.eye(T, dtype=torch.bool, device=tok.device)[None, None]  # padded rows attend to self
        x = s.emb(tok)
        hs = []
        for b in s.blocks:
            x = b(x, cos, sin, amask)
            hs.append(x)
        logits = s.unemb(s.lnf(x))
        return (logits, hs) if hidden else logits


def init_weights(m, gen):
    for n, p in m.named_parameters():
        if "ln" in n and n.endswith("weight"):
            nn.init.ones_(p)
        elif n.endswith("bias"):
            nn.init.zeros_(p)
        else:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def append_blocks(m, n, gen):
    for _ in range(n):
        b = Block(m.C, m.H, m.R)
        init_weights(b, gen)
        for lin in (b.o, b.down):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        m.blocks.append(b.to(next(m.parameters()).device))


def batchify(rows):
    T = max(len(r["t"]) for r in rows)
    tok = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        tok[i, T - len(r["t"]) :] = torch.tensor(r["t"])
        mask[i, T - len(r["t"]) :] = 1
    return tok.to(DEV), mask.to(DEV)


def balance(rows, key, rng):
    pos = [r for r in rows if r[key]]
    neg = [r for r in rows if not r[key]]
    k = min(len(pos), len(neg))
    out = [pos[i] for i in rng.permutation(len(pos))[:k]] + [neg[i] for i in rng.permutation(len(neg))[:k]]
    return [out[i] for i in rng.permutation(len(out))]


def auroc(s, y):
    s, y = np.asarray(s, float), np.asarray(y, int)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    # average ranks for ties
    _, inv, cnt = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, ranks)
    ranks = (sums / cnt)[inv]
    npos = y.sum()
    nneg = len(y) - npos
    return (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


@torch.no_grad()
def scores(m, rows, want_hidden=False):
    out, hid = [], []
    for i in range(0, len(rows), 512):
        ch = rows[i : i + 512]
        tok, mask = batchify(ch)
        lg, hs = m(tok, mask, hidden=True)
        last = lg[:, -1]
        c = torch.tensor([r["c"] for r in ch], device=DEV)
        out.append((last.gather(1, c[:, 1:]) - last.gather(1, c[:, :1]))[:, 0].cpu())
        if want_hidden:
            hid.append(torch.stack([h[:, -1] for h in hs], 1).cpu())
    s = torch.cat(out).numpy()
    return (s, torch.cat(hid).numpy()) if want_hidden else s


@torch.no_grad()
def val_loss(m, rows, key):
    tok, mask = batchify(rows)
    last = m(tok, mask)[:, -1]
    tgt = torch.tensor([r["c"][r[key]] for r in rows], device=DEV)
    return F.cross_entropy(last, tgt).item()


def adamw(m, params, lr, wd):
    """AdamW as ours: β2 0.95, weight decay on the weights only (not on norms and biases)."""
    named = {id(p): n for n, p in m.named_parameters()}
    dec = [p for p in params if not (named[id(p)].endswith("bias") or ".ln" in named[id(p)] or named[id(p)].startswith("ln"))]
    nodec = [p for p in params if all(p is not q for q in dec)]
    return torch.optim.AdamW([{"params": dec, "weight_decay": wd}, {"params": nodec, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), eps=1e-8)


def lr_factor(steps, warmup):
    """step → multiplier of the peak rate: linear warmup over round(steps · warmup) steps, then cosine to 0."""
    W = round(steps * warmup)
    return lambda s: (s + 1) / W if s < W else 0.5 * (1 + math.cos(math.pi * (s - W) / max(1, steps - W)))


def train(m, rows, key, val, *, steps, lr, bs=128, warmup=0.05, wd=0.1, aux=0.0, params=None, seed=0, log=None):
    rng = np.random.default_rng(seed)
    data = balance(rows, key, rng)
    vrows = balance(val, key, rng)[:500]
    params = list(params if params is not None else m.parameters())
    opt = adamw(m, params, lr, wd)
    sched = lr_factor(steps, warmup)
    order, k = rng.permutation(len(data)), 0
    best, best_state, best_step = float("inf"), None, 0
    for step in range(steps):
        idx = []
        while len(idx) < bs:
            if k == len(order):
                order, k = rng.permutation(len(data)), 0
            idx.append(order[k]); k += 1
        ch = [data[i] for i in idx]
        tok, mask = batchify(ch)
        lg = m(tok, mask)
        tgt = torch.tensor([r["c"][r[key]] for r in ch], device=DEV)
        loss = F.cross_entropy(lg[:, -1], tgt)
        if aux > 0:
            valid = (mask[:, :-1] == 1)
            loss = loss + aux * F.cross_entropy(lg[:, :-1][valid], tok[:, 1:][valid])
        for g in opt.param_groups:
            g["lr"] = lr * sched(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        s1 = step + 1
        if s1 == steps or (s1 & (s1 - 1)) == 0:
            vl = val_loss(m, vrows, key)
            if vl < best:
                best, best_step = vl, s1
                best_state = {n: p.detach().clone() for n, p in m.state_dict().items()}
    m.load_state_dict(best_state)
    return best_step


def evaluate(m, d):
    from sklearn.linear_model import LogisticRegression
    test, val = d["test"], d["validation"]
    st, ht = scores(m, test, True)
    sv, hv = scores(m, val, True)
    a = np.array([r["a"] for r in test]); b = np.array([r["b"] for r in test]); bob = np.array([r["bob"] for r in test]); q = np.array([r["q"] for r in test])
    va = np.array([r["a"] for r in val]); vbob = np.array([r["bob"] for r in val]); vq = np.array([r["q"] for r in val])
    dis = (bob == 1) & (a != b)
    vb = np.array([r["b"] for r in val])
    bi = np.where(bob == 1)[0][:500]
    res = {"bob500": auroc(st[bi], b[bi]), "val_bob": auroc(sv[vbob == 1], vb[vbob == 1]), "alice": auroc(st[bob == 0], a[bob == 0]), "bob": auroc(st[bob == 1], b[bob == 1]), "bob_dis_vs_alice": auroc(st[dis], a[dis])}
    L = ht.shape[1]
    probe_dis = []
    ae_logodds = np.zeros((len(test), L))
    for l in range(L):
        X = hv[vbob == 0, l]
        clf = LogisticRegression(C=1 / (2 * len(X) * 1e-3), max_iter=5000).fit(X, va[vbob == 0])
        probe_dis.append(auroc(clf.decision_function(ht[dis, l]), a[dis]))
        ae = (vbob == 0) & (vq <= 0.25)
        clf2 = LogisticRegression(C=1 / (2 * ae.sum() * 1e-3), max_iter=5000).fit(hv[ae, l], va[ae])
        ae_logodds[:, l] = clf2.decision_function(ht[:, l])
    res["probe_dis"] = [round(float(x), 3) for x in probe_dis]
    AE = (bob == 0) & (q <= 0.25); AH = (bob == 0) & (q >= 0.75); BH = (bob == 1) & (q >= 0.75)
    def maha(cols):
        X = ae_logodds[AE][:, cols]
        mu = X.mean(0); S = np.cov(X, rowvar=False).reshape(len(cols), len(cols)); P = np.linalg.pinv(S)
        def sc(Z):
            Z = Z[:, cols] - mu
            return np.einsum("ij,jk,ik->i", Z, P, Z)
        s = np.concatenate([sc(ae_logodds[AH]), sc(ae_logodds[BH])])
        y = np.concatenate([np.zeros(AH.sum()), np.ones(BH.sum())])
        return auroc(s, y)
    res["maha"] = maha(list(range(L)))
    res["maha_top"] = maha(list(range(3, L)))
    return {k: (round(float(v), 4) if not isinstance(v, list) else v) for k, v in res.items()}


def run(spec, out):
    """spec: data (export.ts JSON), s1_steps, s1_lr, C, L, or stage1_dir (one of our truthful checkpoints instead
    of stage 1); blocks, s2_steps, s2_lr, s2_aux (next-token loss in stage 2), train_last (also train the truthful
    model's last block); seed."""
    t0 = time.time()
    torch.manual_seed(spec.get("seed", 1))
    d = json.load(open(spec["data"]))
    gen = torch.Generator().manual_seed(spec.get("seed", 1))
    if spec.get("stage1_dir"):
        m = load_ours(spec["stage1_dir"]).to(DEV)
        s1 = 0
    else:
        m = NeoX(C=spec.get("C", 128), L=spec.get("L", 4))
        init_weights(m, gen)
        m.to(DEV)
        s1 = train(m, d["train"], "a", d["validation"], steps=spec["s1_steps"], lr=spec.get("s1_lr", 1e-3), aux=1.0, seed=spec.get("seed", 1))
    r1 = {k: v for k, v in evaluate(m, d).items() if k in ("alice", "bob_dis_vs_alice", "probe_dis")}
    print("stage1", spec, r1, round(time.time() - t0, 1), flush=True)
    nb = spec.get("blocks", 2)
    L0 = len(m.blocks)
    append_blocks(m, nb, gen)
    params = [p for b in m.blocks[L0:] for p in b.parameters()]
    if spec.get("train_last"):
        params += list(m.blocks[L0 - 1].parameters())
    for p in m.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    s2 = train(m, d["train"], "l", d["validation"], steps=spec["s2_steps"], lr=spec.get("s2_lr", 1e-3), params=params, seed=spec.get("seed", 1) + 1, aux=spec.get("s2_aux", 0.0))
    r = evaluate(m, d)
    line = json.dumps({"spec": spec, "stage1": r1, "best": [s1, s2], **r, "sec": round(time.time() - t0, 1)})
    print(line, flush=True)
    with open(out, "a") as f:
        f.write(line + "\n")


def load_ours(dirname):
    """our checkpoint (HF GPT-NeoX names) → replica"""
    from safetensors_lite import load
    cfg = json.load(open(os.path.join(dirname, "config.json")))
    m = NeoX(V=cfg["vocab_size"], C=cfg["hidden_size"], L=cfg["num_hidden_layers"], H=cfg["num_attention_heads"])
    W = load(os.path.join(dirname, "model.safetensors"))
    sd = {"emb.weight": W["gpt_neox.embed_in.weight"], "lnf.weight": W["gpt_neox.final_layer_norm.weight"], "lnf.bias": W["gpt_neox.final_layer_norm.bias"], "unemb.weight": W["embed_out.weight"]}
    for i in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        for ours, hf in [("ln1", "input_layernorm"), ("ln2", "post_attention_layernorm"), ("qkv", "attention.query_key_value"), ("o", "attention.dense"), ("up", "mlp.dense_h_to_4h"), ("down", "mlp.dense_4h_to_h")]:
            for wb in ("weight", "bias"):
                sd[f"blocks.{i}.{ours}.{wb}"] = W[p + hf + "." + wb]
    m.load_state_dict(sd)
    return m


if __name__ == "__main__":
    specs = json.loads(sys.argv[1]) if sys.argv[1].startswith("[") else json.load(open(sys.argv[1]))
    for spec in specs:
        try:
            run(spec, sys.argv[2])
        except Exception as e:
            print("FAIL", spec, repr(e), flush=True)

