#!/bin/sh
# Install the pinned requirements into a virtual environment, creating it if need be:
#   scripts/install.sh VENV REQUIREMENTS_FILE...
# The one install step: the Makefile's install targets (what CI runs) and the Dockerfile (what the
# image runs) both call it, so the image holds exactly what CI tested. uv (pinned here, installed into
# the environment by pip) installs the requirements: the same pinned versions pip would, downloaded
# and unpacked in parallel (about 19 s for requirements-dev.txt here, against about 90 s with pip),
# and compiled to bytecode as pip does: processes started with -B (multiprocessing's children) or
# PYTHONDONTWRITEBYTECODE would otherwise compile every module they import, every time.
set -eu
venv="$1"
shift
python="${PYTHON:-python3.11}"
uv_version="0.13.9"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
fi
if ! "$venv/bin/uv" --version 2>/dev/null | grep -q "^uv $uv_version "; then
    "$venv/bin/pip" install --quiet --no-cache-dir "uv==$uv_version"
fi
for requirements in "$@"; do
    "$venv/bin/uv" pip install --quiet --no-cache --compile-bytecode --python "$venv/bin/python" --requirement "$requirements"
done
