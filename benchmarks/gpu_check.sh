#!/usr/bin/env bash
# GPU check of end_to_end training (issue 10): CUDA placement, mixed precision, one fine-tuning epoch of a tiny
# SSL model, DDP over the available GPUs. One command, under 5 minutes; prints SKIP and exits 0 without CUDA.
# Usage: bash benchmarks/gpu_check.sh [--cpu]     (--cpu: the same checks on the CPU, to test the script)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
exec timeout 300 "$python" "$here/gpu_check.py" "$@"
