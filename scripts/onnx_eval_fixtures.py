#!/usr/bin/env python3
"""Writes composite graphs and their expected outputs for onnx/tests/eval.rs and
apps/tests/infer.rs: onnx/tests/fixtures/{cnn,attention}.onnx with {name}_input_K and
{name}_output_K as .pb (TensorProto) and .npy files. The expected outputs come from the `onnx` package's reference
evaluator (onnx.reference.ReferenceEvaluator), an oracle independent of umbra.
pip install onnx; run from the repository root."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

rng = np.random.default_rng(7)
OUT = "onnx/tests/fixtures"


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def i64(v):
    return numpy_helper.from_array(np.array(v, dtype=np.int64))


def save(name, graph, inputs, opset=17):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="umbra-fixtures")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, f"{OUT}/{name}.onnx")
    outs = ReferenceEvaluator(m).run(None, inputs)
    # TensorProto files for the onnx crate's tests, .npy files for `umbra infer`'s
    for k, (n, v) in enumerate(inputs.items()):
        with open(f"{OUT}/{name}_input_{k}.pb", "wb") as f:
            f.write(numpy_helper.from_array(v, n).SerializeToString())
        np.save(f"{OUT}/{name}_input_{k}.npy", v)
    for k, v in enumerate(outs):
        with open(f"{OUT}/{name}_output_{k}.pb", "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(v), graph.output[k].name).SerializeToString())
        np.save(f"{OUT}/{name}_output_{k}.npy", np.asarray(v))


# A small CNN whose flatten goes through shape arithmetic (Shape, Gather, Unsqueeze, Concat),
# as torch.onnx.export writes x.view(x.size(0), -1).
cnn = helper.make_graph(
    [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["p1"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["p1", "target"], ["flat"], name="view"),
        helper.make_node("Gemm", ["flat", "w2", "b2"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ],
    "cnn",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 6, 6])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 4])],
    [
        numpy_helper.from_array(f32(2, 1, 3, 3, scale=0.5), "w1"),
        numpy_helper.from_array(f32(2, scale=0.1), "b1"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus1"),
        numpy_helper.from_array(f32(4, 18, scale=0.3), "w2"),
        numpy_helper.from_array(f32(4, scale=0.1), "b2"),
    ],
)
save("cnn", cnn, {"x": f32(3, 1, 6, 6)})

# One head of scaled dot-product attention with a residual, as exported for a transformer
# block: Q, K, V projections, K transposed, scores divided by sqrt(d), softmax, a weighted sum,
# then Erf-GELU written out (opset 18: ReduceMean takes its axes as an input) as ONNX spells it (x * 0.5 * (1 + erf(x / sqrt 2))).
d = 4
attention = helper.make_graph(
    [
        helper.make_node("MatMul", ["h", "wq"], ["q"], name="q"),
        helper.make_node("MatMul", ["h", "wk"], ["k"], name="k"),
        helper.make_node("MatMul", ["h", "wv"], ["v"], name="v"),
        helper.make_node("Transpose", ["k"], ["kt"], name="kt", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="scores"),
        helper.make_node("Constant", [], ["sqrt_d"], name="sqrt_d",
                         value=numpy_helper.from_array(np.array(np.sqrt(d), dtype=np.float32))),
        helper.make_node("Div", ["scores", "sqrt_d"], ["scaled"], name="scale"),
        helper.make_node("Softmax", ["scaled"], ["attn"], name="attn", axis=-1),
        helper.make_node("MatMul", ["attn", "v"], ["ctx"], name="ctx"),
        helper.make_node("Add", ["ctx", "h"], ["res"], name="residual"),
        helper.make_node("Constant", [], ["inv_sqrt2"], name="inv_sqrt2",
                         value=numpy_helper.from_array(np.array(1 / np.sqrt(2), dtype=np.float32))),
        helper.make_node("Mul", ["res", "inv_sqrt2"], ["z"], name="z"),
        helper.make_node("Erf", ["z"], ["e"], name="erf"),
        helper.make_node("Constant", [], ["one"], name="one",
                         value=numpy_helper.from_array(np.array(1, dtype=np.float32))),
        helper.make_node("Add", ["e", "one"], ["e1"], name="e1"),
        helper.make_node("Mul", ["res", "e1"], ["g2"], name="g2"),
        helper.make_node("Constant", [], ["half"], name="half",
                         value=numpy_helper.from_array(np.array(0.5, dtype=np.float32))),
        helper.make_node("Mul", ["g2", "half"], ["out"], name="gelu"),
        helper.make_node("ReduceMean", ["out", "axes1"], ["pooled"], name="pool", keepdims=0),
    ],
    "attention",
    [helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, 5, d])],
    [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [2, d])],
    [
        numpy_helper.from_array(f32(d, d, scale=0.5), "wq"),
        numpy_helper.from_array(f32(d, d, scale=0.5), "wk"),
        numpy_helper.from_array(f32(d, d, scale=0.5), "wv"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1"),
    ],
)
save("attention", attention, {"h": f32(2, 5, d)}, opset=18)
