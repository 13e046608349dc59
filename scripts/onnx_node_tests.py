#!/usr/bin/env python3
"""Writes the `onnx` package's backend node test cases (the same ones the ONNX repository
keeps under onnx/backend/test/data/node: model.onnx and test_data_set_K/{input,output}_J.pb
per case) into the folder given as the first argument. The wheel on PyPI carries the case
generators rather than the data, so the data are generated here, as `onnx`'s own
`backend-test-tools generate-data` does for its model cases. Only tensor inputs are written;
cases with sequence, map or optional inputs are left out (umbra reads tensors only).
Usage: python3 scripts/onnx_node_tests.py OUT_DIR"""
import os
import shutil
import sys

import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node

warnings.simplefilter("ignore")  # the generators overflow casts on purpose
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
written = 0
for case in node.collect_testcases():
    if any(not i.type.HasField("tensor_type") for i in case.model.graph.input) or any(
        not o.type.HasField("tensor_type") for o in case.model.graph.output
    ):
        continue
    d = os.path.join(out, case.name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    for k, (inputs, outputs) in enumerate(case.data_sets):
        sd = os.path.join(d, f"test_data_set_{k}")
        os.makedirs(sd)
        for kind, values, infos in (("input", inputs, case.model.graph.input), ("output", outputs, case.model.graph.output)):
            for j, v in enumerate(values):
                t = v if isinstance(v, onnx.TensorProto) else numpy_helper.from_array(np.asarray(v), infos[j].name)
                with open(os.path.join(sd, f"{kind}_{j}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
    written += 1
with open(os.path.join(out, "VERSION"), "w") as f:
    f.write(onnx.__version__ + "\n")
print(f"{written} node cases from onnx {onnx.__version__} in {out}")
