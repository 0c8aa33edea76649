"""Independent references for the probes tests (run with Debian's /usr/bin/python3: numpy, scipy, scikit-learn 1.2).

Reads one JSON object from stdin: {"task": ..., ...}; writes one JSON object to stdout.
Every task is computed here with numpy / scikit-learn, never with quirky's code.
"""
import json
import sys

import numpy as np


def lr(req):
    from sklearn.linear_model import LogisticRegression

    x = np.array(req["x"], dtype=np.float64)
    y = np.array(req["y"])
    n = len(y)
    # quirky/lr_classifier.py minimise mean BCE + lam*||w||^2; sklearn minimises 0.5||w||^2 + C*sum BCE.
    # Dividing sklearn's by C*n gives mean BCE + ||w||^2/(2 C n): equal when C = 1/(2 n lam).
    C = 1.0 / (2 * n * req["l2"])
    m = LogisticRegression(C=C, penalty="l2", tol=1e-12, max_iter=100000, solver=req.get("solver", "newton-cholesky"))
    m.fit(x, y)
    return {"coef": m.coef_[0].tolist(), "intercept": float(m.intercept_[0]), "log_odds": m.decision_function(x).tolist(), "C": C}


def lda(req):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    x = np.array(req["x"], dtype=np.float64)
    y = np.array(req["y"])
    m = LinearDiscriminantAnalysis(solver="lsqr").fit(x, y)
    # the reference formula, in numpy: S = (n0 C0 + n1 C1)/n with unbiased class covariances,
    # w = pinv(S, rcond) @ (mu1 - mu0) (torch.linalg.pinv's cut-off, relative to the largest singular value)
    x0, x1 = x[y == 0], x[y == 1]
    S = (len(x0) * np.cov(x0.T) + len(x1) * np.cov(x1.T)) / len(x)
    w = np.linalg.pinv(S, rcond=req["rcond"]) @ (x1.mean(0) - x0.mean(0))
    return {"coef": m.coef_[0].tolist(), "numpy_w": w.tolist(), "rank": int(np.linalg.matrix_rank(S, tol=req["rcond"] * np.abs(np.linalg.eigvalsh(S)).max()))}


def auroc(req):
    from sklearn.metrics import roc_auc_score

    return {"auroc": [float(roc_auc_score(y, s)) for s, y in zip(req["scores"], req["labels"])]}


def eigh(req):
    a = np.array(req["a"], dtype=np.float64)
    vals, vecs = np.linalg.eigh(a)
    return {"values": vals.tolist(), "vectors": vecs.T.tolist()}


def shrinkage(req):
    # concept_erasure.shrinkage.optimal_linear_shrinkage (v0.2.4), transcribed in numpy
    S = np.array(req["S"], dtype=np.float64)
    n = req["n"]
    p = S.shape[-1]
    eye = np.eye(p)
    trace_S = np.trace(S)
    sigma0 = eye * trace_S / p
    sigma0_norm_sq = np.linalg.norm(sigma0) ** 2
    S_norm_sq = np.linalg.norm(S) ** 2
    prod_trace = np.trace(S @ sigma0)
    top = trace_S * trace_S * sigma0_norm_sq / n
    bottom = S_norm_sq * sigma0_norm_sq - prod_trace * prod_trace
    eps = np.finfo(np.float32).eps
    alpha = 1 - (top + eps) / (bottom + eps)
    beta = (1 - alpha) * (prod_trace + eps) / (sigma0_norm_sq + eps)
    return {"sigma": (alpha * S + beta * sigma0).tolist(), "alpha": float(alpha), "beta": float(beta)}


def leace(req):
    # concept_erasure.leace.LeaceFitter(...).eraser (v0.2.4 defaults), transcribed in numpy: batch moments,
    # optimal linear shrinkage, eigh-based whitening with torch.linalg.pinv's mask, SVD, svd_tol.
    x = np.array(req["x"], dtype=np.float64)
    z = np.array(req["z"], dtype=np.float64).reshape(len(x), -1)
    n, d = x.shape
    mx, mz = x.mean(0), z.mean(0)
    xc, zc = x - mx, z - mz
    S_hat = xc.T @ xc
    sigma = np.array(shrinkage({"S": (S_hat / n).tolist(), "n": n})["sigma"]) if req.get("shrinkage", True) else S_hat / (n - 1)
    sigma_xz = xc.T @ zc / (n - 1)
    L, V = np.linalg.eigh(sigma)
    mask = L > (L[-1] * d * np.finfo(np.float32).eps)
    L = np.clip(L, 0, None)
    W = (V * np.where(mask, 1 / np.sqrt(np.where(mask, L, 1)), 0)) @ V.T
    W_inv = (V * np.where(mask, np.sqrt(L), 0)) @ V.T
    u, s, _ = np.linalg.svd(W @ sigma_xz, full_matrices=False)
    u = u * (s > req.get("svd_tol", 0.01))
    P = np.eye(d) - W_inv @ u @ u.T @ W
    erased = x - (x - mx) @ (np.eye(d) - P).T
    return {"P": P.tolist(), "erased": erased.tolist(), "s": s.tolist()}


def pca(req):
    a = np.array(req["a"], dtype=np.float64)
    a = a - a.mean(0)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    return {"direction": vt[0].tolist(), "s": s.tolist()}


def quantile(req):
    a = np.array(req["a"], dtype=np.float64)
    return {"q": np.quantile(a, req["q"]).tolist()}


def sklearn_lr_timing(req):
    import time

    from sklearn.linear_model import LogisticRegression

    x = np.fromfile(req["x_file"], dtype=np.float32).reshape(req["n"], req["d"]).astype(np.float64)
    y = np.fromfile(req["y_file"], dtype=np.uint8)
    t = time.perf_counter()
    m = LogisticRegression(C=1.0 / (2 * len(y) * 1e-3), max_iter=10000).fit(x, y)
    return {"seconds": time.perf_counter() - t, "iterations": int(m.n_iter_[0])}


TASKS = {f.__name__: f for f in [lr, lda, auroc, eigh, shrinkage, leace, pca, quantile, sklearn_lr_timing]}

if __name__ == "__main__":
    req = json.load(sys.stdin)
    json.dump(TASKS[req["task"]](req), sys.stdout)
