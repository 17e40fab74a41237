#!/usr/bin/env bash
# Installs the Mesa packages that give Dawn (the `webgpu` npm package) a software WebGPU adapter:
# Dawn's OpenGL ES backend on llvmpipe, used by the gpujs-webgpu backend when there is no GPU.
# Idempotent: runs apt-get only when a package is missing. Needs root (or sudo).
# The backend sets EGL_PLATFORM=surfaceless itself (src/tensor/gpujs/backend.ts) when unset.
set -euo pipefail
packages=(libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri libvulkan1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "gpu-deps: all present (${packages[*]})"
  exit 0
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "gpu-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
