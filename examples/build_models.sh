#!/usr/bin/env bash
# Regenerate the example artifacts that are not committed: the full-size
# voice-verification model (~234 MB) and its reference outputs. Idempotent: each
# step is skipped when its output exists and is newer than everything it is made from.
# The committed artifacts (textgen-lstm, voice-verification-small) are regenerated
# by hand; see the README in each example directory.
set -euo pipefail

cd "$(dirname "$0")"
# Debian's interpreter: it has torch and onnx (python3 on PATH may not).
PY=${PYTHON:-/usr/bin/python3}
VV=voice-verification
MODEL=models/voice-verification/1/model.onnx
REF_DONE=$VV/reference/full/batch4_score.npy   # written last by reference.py

# up_to_date TARGET SOURCE...: TARGET exists and is newer than every SOURCE.
up_to_date() {
  local target=$1 src
  shift
  [[ -e $target ]] || return 1
  for src in "$@"; do
    [[ $target -nt $src ]] || return 1
  done
}

if ! "$PY" -c 'import torch, onnx' 2>/dev/null; then
  echo "error: $PY cannot import torch and onnx (Debian: apt-get install python3-torch python3-onnx)" >&2
  exit 1
fi

if up_to_date "$MODEL" "$VV/model.py" "$VV/make_model.py"; then
  echo "up to date: $MODEL"
else
  echo "building $MODEL (about 2 minutes) ..."
  # Write next to the target and rename, so an interrupted run leaves no file that
  # looks complete and newer than its sources.
  (cd "$VV" && "$PY" make_model.py --variant full --output "../$MODEL.tmp")
  mv -f "$MODEL.tmp" "$MODEL"
fi

if up_to_date "$REF_DONE" "$MODEL" "$VV/model.py" "$VV/make_model.py" "$VV/reference.py"; then
  echo "up to date: $VV/reference/full/"
else
  echo "writing $VV/reference/full/ ..."
  rm -f "$REF_DONE"
  (cd "$VV" && "$PY" reference.py --variant full --model "../$MODEL")
fi
