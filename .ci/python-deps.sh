#!/usr/bin/env bash
# Installs Debian's PyTorch (python3-torch, CPU build) for scripts/reference_check.py, which compares
# `calm export --format reference` against PyTorch modules written from the reference architecture.
# Idempotent (apt-install.sh runs apt-get only when a package is missing). Needs root (or sudo).
# --no-install-recommends keeps it to the runtime (about 40 s here; recommends would pull in the CUDA-less
# test and dev packages).
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" python-deps python3 python3-torch
