"""A per-vertex MLP on HKS vs a diffusion mesh CNN on the synthetic segmentation set.

Usage: OMP_NUM_THREADS=1 python benchmarks/synthetic_mlp_vs_cnn.py [figure|creature] [EPOCHS]
32 generated meshes (800-1200 vertices): 24 train, 8 test; area-weighted test accuracy.
"""
import sys
import time

import numpy as np
import torch

from manifold_nets.data.synthetic import make_segmentation_set
from manifold_nets.nn import MeshData, SegmentationNet
from manifold_nets.nn.batch import MeshBatch
from manifold_nets.nn.features import input_features

torch.manual_seed(0)
torch.set_num_threads(1)
kind = sys.argv[1] if len(sys.argv) > 1 else "figure"
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 60
t0 = time.time()
ds = make_segmentation_set(32, kind=kind, seed=0, resolution=(800, 1200))
print(f"generate {time.time()-t0:.1f}s", flush=True)
t0 = time.time()
data = [MeshData.from_mesh(m.V, m.F, k=64, patches=False, curvature=False) for m in ds]
print(f"operators {time.time()-t0:.1f}s", flush=True)
K = ds.num_classes
def batch_of(idx):
    b = MeshBatch.from_data([data[i] for i in idx])
    x = input_features(b, "hks", 16)
    y = torch.as_tensor(np.concatenate([ds[i].face_labels for i in idx]))
    w = torch.as_tensor(np.concatenate([ds[i].face_areas / ds[i].face_areas.sum() for i in idx]), dtype=torch.float32)
    return b, x, y, w
train, test = list(range(24)), list(range(24, 32))
batches = [batch_of(train[i:i + 4]) for i in range(0, 24, 4)]
bt, xt, yt, wt = batch_of(test)

def acc(logits, y, w):
    return float(((logits.argmax(1) == y).float() * w).sum() / w.sum())

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                       torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, K))
    def forward(self, b, x):
        return self.net(b.vertex_to_face(x))

for name, model in [("mlp", MLP()), ("diffusion", SegmentationNet(16, K, family="diffusion", outputs="faces", width=64, n_blocks=4))]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.time()
    for _ep in range(epochs):
        model.train()
        for b, x, y, _w in batches:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(b, x), y)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        tr = np.mean([acc(model(b, x), y, w) for b, x, y, w in batches])
        te = acc(model(bt, xt), yt, wt)
    print(f"{kind} {name}: train acc {tr:.3f}, test area-weighted acc {te:.3f}, {time.time()-t0:.0f}s", flush=True)
