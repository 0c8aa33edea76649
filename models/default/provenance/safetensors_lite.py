import json, struct, numpy as np, torch
def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]; dt = {"F32": np.float32, "F16": np.float16, "BF16": None}[v["dtype"]]
        out[k] = torch.from_numpy(np.frombuffer(b[8 + n + s: 8 + n + e], dtype=dt).reshape(v["shape"]).copy()).float()
    return out
