#!/usr/bin/env bash
# GPU parity check: run/shapes on CUDA against the CPU. Needs a CUDA build of torch and the
# project's dependencies already importable; CI never runs it (its tests skip without CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
python3 -m pytest -m gpu -v -p no:cacheprovider tests/test_gpu.py
