#!/bin/sh
# Install the pinned requirements into a virtual environment, creating it if need be:
#   scripts/install.sh VENV REQUIREMENTS_FILE...
# The one install step: the Makefile's install targets (what CI runs) and the Dockerfile (what the
# image runs) both call it, so the image holds exactly what CI tested.
set -eu
venv="$1"
shift
python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
fi
for requirements in "$@"; do
    "$venv/bin/pip" install --quiet --no-cache-dir --requirement "$requirements"
done
