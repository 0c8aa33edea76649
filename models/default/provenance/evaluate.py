"""Scores checkpoints made by `quirky train` the way sweep.py scores its own runs (scikit-learn metrics; see
evaluate() in sweep.py): output AUROC on test rows (Bob's on all his rows and on the first 500), val_bob, the probe on
Bob's disagreements per layer, Mahalanobis anomaly AUROC.
    usage: python3 evaluate.py EXPORT.json MODEL_DIR [MODEL_DIR ...]     (EXPORT.json from export.ts)"""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep

data = json.load(open(sys.argv[1]))
for model_dir in sys.argv[2:]:
    print(json.dumps({"model": model_dir, **sweep.evaluate(sweep.load_ours(model_dir).to(sweep.DEV), data)}), flush=True)
