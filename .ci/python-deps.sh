#!/usr/bin/env bash
# Installs Debian's PyTorch (python3-torch, CPU build) for scripts/reference_check.py, which compares
# `calm export --format reference` against PyTorch modules written from the reference architecture.
# Idempotent: runs apt-get only when the package is missing. Needs root (or sudo).
# --no-install-recommends keeps it to the runtime (about 40 s here; recommends would pull in the CUDA-less
# test and dev packages).
set -euo pipefail
packages=(python3 python3-torch)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "python-deps: all present (${packages[*]})"
  exit 0
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "python-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
