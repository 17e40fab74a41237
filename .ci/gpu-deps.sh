#!/usr/bin/env bash
# Installs the Mesa packages that give Dawn (the `webgpu` npm package) a software WebGPU adapter:
# Dawn's OpenGL ES backend on llvmpipe, used by the gpujs-webgpu backend when there is no GPU.
# Idempotent (apt-install.sh runs apt-get only when a package is missing). Needs root (or sudo).
# The backend sets EGL_PLATFORM=surfaceless itself (src/tensor/gpujs/backend.ts) when unset.
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" gpu-deps libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri libvulkan1
