"""The zoo's claims measured with scikit-learn and numpy only, from hidden states quirky extracted (test/zoo.test.ts).

Reads one JSON object from stdin:
  {"layers": [{"fit_x", "fit_y", "test_x", "test_y", "ae_val_x", "ae_val_y", "ae_test_x", "ah_x", "bh_x"}, ...], "l2": 1e-3}
Per layer: LogR fitted on Alice's validation prompts (sklearn, C = 1/(2 n l2), the same optimum as quirky's lr) scored
on Bob's disagreements against Alice's labels; the median AUROC of 1,000 random directions (numpy's generator, not
quirky's), each signed so it reads the fit rows above chance; and the Mahalanobis anomaly AUROC: per-layer LogR fitted
on Alice's easy validation prompts, its log-odds on AE test rows fit sklearn's EmpiricalCovariance, which scores AH
(normal) against BH (anomalous). Writes {"lr": [...], "random_median": [...], "random_median_se": [...], "mahalanobis": x}.
"""
import json
import sys

import numpy as np
from sklearn.covariance import EmpiricalCovariance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

req = json.load(sys.stdin)
l2 = req["l2"]


def logr(x, y):
    return LogisticRegression(C=1.0 / (2 * len(y) * l2), max_iter=100000, tol=1e-10).fit(x, y)


rng = np.random.default_rng(0)
lr, random_median, random_median_se, ae_log_odds = [], [], [], {"ae": [], "ah": [], "bh": []}
for L in req["layers"]:
    fx, fy, tx, ty = (np.asarray(L[k], dtype=np.float64) for k in ("fit_x", "fit_y", "test_x", "test_y"))
    lr.append(float(roc_auc_score(ty, logr(fx, fy).decision_function(tx))))
    z = rng.standard_normal((1000, fx.shape[1]))
    signs = np.array([1.0 if roc_auc_score(fy, fx @ d) >= 0.5 else -1.0 for d in z])
    aucs = np.array([roc_auc_score(ty, s * (tx @ d)) for s, d in zip(signs, z)])
    random_median.append(float(np.median(aucs)))
    # the median's sampling error (bootstrap): wide, two-humped AUROC distributions make it larger than 0.01
    random_median_se.append(float(np.std([np.median(rng.choice(aucs, len(aucs))) for _ in range(200)])))
    probe = logr(np.asarray(L["ae_val_x"]), np.asarray(L["ae_val_y"]))
    for k, key in (("ae", "ae_test_x"), ("ah", "ah_x"), ("bh", "bh_x")):
        ae_log_odds[k].append(probe.decision_function(np.asarray(L[key], dtype=np.float64)))
feats = {k: np.stack(v, axis=1) for k, v in ae_log_odds.items()}
cov = EmpiricalCovariance().fit(feats["ae"])
scores = np.concatenate([cov.mahalanobis(feats["ah"]), cov.mahalanobis(feats["bh"])])
labels = np.concatenate([np.zeros(len(feats["ah"])), np.ones(len(feats["bh"]))])
json.dump({"lr": lr, "random_median": random_median, "random_median_se": random_median_se, "mahalanobis": float(roc_auc_score(labels, scores))}, sys.stdout)
