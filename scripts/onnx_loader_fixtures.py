#!/usr/bin/env python3
"""Writes onnx/tests/fixtures/{tiny.onnx, tiny_ext.onnx, tiny_ext.bin} with the `onnx`
package (pip install onnx), so the loader's tests read files written by the reference
serializer, not only by umbra's own messages. Run from the repository root."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W = np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5
b = np.array([0.5, -0.5, 0.25], dtype=np.float32)
k = np.array([[1, -2], [3, -4]], dtype=np.int64)


def model(initializers):
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["h"], name="add"),
        helper.make_node("LeakyRelu", ["h"], ["y"], name="leaky", alpha=0.125),
        helper.make_node("Transpose", ["k"], ["kt"], name="transpose", perm=[1, 0]),
        helper.make_node(
            "Constant", [], ["c"], name="const", value=numpy_helper.from_array(np.array([7, -8], dtype=np.int32))
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("kt", TensorProto.INT64, [2, 2]),
            helper.make_tensor_value_info("c", TensorProto.INT32, [2]),
        ],
        initializers,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx-helper")
    onnx.checker.check_model(m)
    return m


inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(k, "k")]
onnx.save(model(inits), "onnx/tests/fixtures/tiny.onnx")
m = model(inits)
onnx.save(m, "onnx/tests/fixtures/tiny_ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
          location="tiny_ext.bin", size_threshold=0)
