#!/usr/bin/env bash
# Set up emofuse on a fresh machine: system packages (espeak-ng, sox, chromium for the browser test, ffmpeg),
# a virtual environment in .venv and every Python dependency (pinned in pyproject.toml). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox libsox-fmt-all)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)  # decodes WebM/MP4 uploads from browsers
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first (as root): ${need[*]}" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU build; a looser pin would pull CUDA packages.
echo "setup: installing emofuse and its dependencies (about 2 minutes on a fresh machine; pip shows each package)"
started=$SECONDS
set +e
if [ -t 1 ]; then
  # a terminal: pip's own lines and download bars (not piped, or pip would hide its bars)
  .venv/bin/python -m pip install -e ".[all,dev]"
else
  # a log (CI): one plain line per package pip fetches or installs, no bars
  .venv/bin/python -m pip install --progress-bar off -e ".[all,dev]" 2>&1 \
    | grep -E "^(Collecting|Downloading|Installing|Successfully|ERROR)"
fi
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "setup: pip failed (exit $status); the lines above say which package" >&2
  exit "$status"
fi
echo "setup: dependencies installed in $((SECONDS - started)) s"
echo "setup: done ($(.venv/bin/python -c 'import emofuse, torch; print("emofuse", emofuse.__version__, "torch", torch.__version__)'))"
