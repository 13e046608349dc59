#!/usr/bin/env python3
"""Exports small PyTorch models to ONNX for onnx/tests/torch_models.rs and records
onnxruntime's outputs: onnx/tests/fixtures/torch_{mlp,lenet,resblock,encoder,bert,embedding}.onnx with
torch_{name}_input_{k}.pb and torch_{name}_output_0.pb (TensorProto files).

torch is needed only to regenerate them (pip install torch onnx onnxruntime onnxscript); the
files are committed. Run from the repository root. Uses torch.onnx.export as a user would
(the default exporter of the installed torch), in eval mode, with fixed seeds."""
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

OUT = sys.argv[1] if len(sys.argv) > 1 else "onnx/tests/fixtures"
torch.manual_seed(0)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(16 * 5 * 5, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = nn.functional.avg_pool2d(torch.relu(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.f3(torch.relu(self.f2(torch.relu(self.f1(x)))))


class BasicBlock(nn.Module):
    """ResNet's basic block with batch norm and a projection shortcut."""

    def __init__(self, cin=4, cout=8):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.down(x))


class BertLayer(nn.Module):
    """One BERT encoder layer written the way Hugging Face's BertLayer is: heads split with
    view/transpose on the traced sizes, an additive mask from an int64 attention_mask, exact
    GELU, post-norm LayerNorm. The legacy exporter spells it as BERT exports look."""

    def __init__(self, d=16, h=2, ff=32):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.f1, self.f2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x, mask):
        b, t, d = x.size(0), x.size(1), x.size(2)

        def heads(y):
            return y.view(b, t, self.h, d // self.h).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // self.h)
        s = s + (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
        a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).contiguous().view(b, t, d)
        x = self.ln1(x + self.o(a))
        return self.ln2(x + self.f2(nn.functional.gelu(self.f1(x))))


class Bag(nn.Module):
    """An embedding lookup on int64 token ids (nn.Embedding), mean-pooled, then a linear
    layer: the Gather on private indices that umbra computes from a one-hot."""

    def __init__(self, vocab=50, d=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.lin = nn.Linear(d, 3)

    def forward(self, ids):
        return self.lin(self.emb(ids).mean(1))


def randomise_bn(m):
    # trained-looking running statistics, so batch norm is not the identity
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            b.running_mean.uniform_(-0.5, 0.5)
            b.running_var.uniform_(0.5, 2.0)
            b.weight.data.uniform_(0.5, 1.5)
            b.bias.data.uniform_(-0.2, 0.2)


encoder = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.1, batch_first=True,
                                     activation="gelu")
resblock = BasicBlock()
randomise_bn(resblock)
# (model, input, exporter): "dynamo" is torch.onnx.export's default, "legacy" the TorchScript
# exporter (dynamo=False) many published models were made with; it keeps BatchNormalization
# as a node and spells attention with Shape/Gather/Concat/Reshape arithmetic.
models = {
    "mlp": (nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 5),
                          nn.Softmax(dim=-1)), torch.randn(4, 20), "dynamo"),
    "lenet": (LeNet(), torch.randn(2, 1, 28, 28), "dynamo"),
    "resblock": (resblock, torch.randn(2, 4, 8, 8), "legacy"),
    "encoder": (encoder, torch.randn(2, 6, 16), "dynamo"),
    "bert": (BertLayer(), (torch.randn(2, 6, 16), torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])),
             "legacy"),
    "embedding": (Bag(), torch.tensor([[3, 7, 7, 49, 0], [12, 1, 2, 3, 4]]), "dynamo"),
}

for name, (model, xs, exporter) in models.items():
    xs = xs if isinstance(xs, tuple) else (xs,)
    names = ["x", "mask"][: len(xs)] if name != "embedding" else ["ids"]
    model.eval()
    path = f"{OUT}/torch_{name}.onnx"
    with torch.no_grad():
        if exporter == "dynamo":
            torch.onnx.export(model, xs, path, input_names=names, output_names=["y"])
        else:
            # the eval-mode fast path of nn.TransformerEncoderLayer is one fused aten op that
            # TorchScript export cannot spell; off, it traces the layer's ordinary ops
            torch.backends.mha.set_fastpath_enabled(False)
            torch.onnx.export(model, xs, path, input_names=names, output_names=["y"], dynamo=False,
                              opset_version=17, do_constant_folding=False,
                              training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(path, load_external_data=True)
    onnx.save(m, path)  # one file, weights inside
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")
    feed = {n: x.numpy() for n, x in zip(names, xs)}
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)[0]
    with torch.no_grad():
        assert np.allclose(y, model(*xs).numpy(), atol=1e-5), name
    for k, (n, x) in enumerate(feed.items()):
        with open(f"{OUT}/torch_{name}_input_{k}.pb", "wb") as f:
            f.write(numpy_helper.from_array(x, n).SerializeToString())
    with open(f"{OUT}/torch_{name}_output_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(y, "y").SerializeToString())
    ops = sorted({n.op_type for n in m.graph.node})
    print(name, "opset", m.opset_import[0].version, len(m.graph.node), "nodes:", " ".join(ops))
