#!/usr/bin/env bash
# bench/device.sh: the GPU benchmarks on a Linux machine with an NVIDIA GPU and no internet.
#
# Run from anywhere, with the tree carried over including node_modules/ (and dist/, or it is built):
#   bash bench/device.sh            # full run
#   bash bench/device.sh --quick    # small sizes
# Steps:
# 1. libvulkan1 (the Vulkan loader Dawn opens): when missing, installed from the .deb carried in
#    bench/debs/ (dpkg as root), or unpacked into a scratch folder on LD_LIBRARY_PATH otherwise.
# 2. Dawn is pointed at the NVIDIA Vulkan ICD (VK_ICD_FILENAMES / VK_DRIVER_FILES); when the driver
#    ships libGLX_nvidia.so.0 but no ICD manifest (common in containers), one is written.
# 3. `bench:gpu` on Dawn's Vulkan backend (CALM_DAWN_BACKEND=vulkan); the run fails when gpujs-webgpu
#    cannot start, rather than reporting software numbers.
# 4. Where PyTorch with CUDA is installed, the same matmul sizes in PyTorch float32 (TF32 off) in the
#    same run; bench:gpu merges those rows into bench/RESULTS.md and prints calm-ts / PyTorch ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

command -v node >/dev/null || { echo "device.sh: node is not installed" >&2; exit 1; }
[ -d node_modules/gpu.js ] || { echo "device.sh: node_modules/ is missing (carry it with the tree; there is no internet here)" >&2; exit 1; }
echo "device.sh: node $(node --version), $(nproc) cores"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "device.sh: nvidia-smi not found"

# ---- 1. the Vulkan loader
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "device.sh: libvulkan.so.1 present"
else
  deb="$(ls bench/debs/libvulkan1_*.deb 2>/dev/null | head -n 1 || true)"
  [ -n "$deb" ] || { echo "device.sh: libvulkan.so.1 missing and no bench/debs/libvulkan1_*.deb carried" >&2; exit 1; }
  if [ "$(id -u)" -eq 0 ]; then
    echo "device.sh: installing $deb"
    dpkg -i "$deb"
  else
    echo "device.sh: not root; unpacking $deb into a scratch folder"
    dpkg-deb -x "$deb" "$scratch/vulkan"
    libdir="$(dirname "$(find "$scratch/vulkan" -name 'libvulkan.so.1' | head -n 1)")"
    export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

# ---- 2. the NVIDIA ICD
icd=""
# A manifest named in VK_ICD_FILENAMES beforehand wins (for a machine where the first one found does not load).
if [ -n "${VK_ICD_FILENAMES:-}" ] && [ -f "$VK_ICD_FILENAMES" ]; then icd="$VK_ICD_FILENAMES"; fi
# /usr/local/nvidia/...: where container images that mount the driver read-only put it.
for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
         /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /usr/local/share/vulkan/icd.d/nvidia_icd.json \
         /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "$icd" ] && [ -f "$f" ]; then icd="$f"; break; fi
done
if [ -z "$icd" ]; then
  if ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0'; then
    icd="$scratch/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\n' > "$icd"
    echo "device.sh: no NVIDIA ICD manifest; wrote $icd for libGLX_nvidia.so.0"
  else
    echo "device.sh: no NVIDIA Vulkan ICD manifest and no libGLX_nvidia.so.0; is the NVIDIA driver installed?" >&2
    exit 1
  fi
fi
echo "device.sh: Vulkan ICD $icd"
export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"
export CALM_DAWN_BACKEND=vulkan

# ---- build when dist/ is missing or older than the sources
if [ ! -f dist/bench/gpu.js ] || [ -n "$(find src bench -name '*.ts' -newer dist/bench/gpu.js | head -n 1)" ]; then
  echo "device.sh: building"
  node node_modules/typescript/bin/tsc -p tsconfig.json || true  # emits even with unrelated type errors
fi
[ -f dist/bench/gpu.js ] || { echo "device.sh: build failed (no dist/bench/gpu.js)" >&2; exit 1; }

# ---- 4 (first, so bench:gpu can merge it). PyTorch float32 matmul on CUDA.
peers=""
if command -v python3 >/dev/null && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  peers="$scratch/pytorch.json"
  sizes="256 512 1024 2048"
  [ ${#quick[@]} -gt 0 ] && sizes="256 512"
  python3 - "$peers" $sizes <<'PY'
import json, statistics, sys, time
import torch
out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
torch.backends.cuda.matmul.allow_tf32 = False  # true float32, like calm-ts
dev = torch.device('cuda')
rows = []
for n in sizes:
    g = torch.Generator(device='cpu').manual_seed(n)
    a = torch.rand(n, n, generator=g).to(dev)
    b = torch.rand(n, n, generator=g).to(dev)
    def call():
        # Read back to the host, as calm-ts's timed call does.
        return (a @ b).cpu()
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        call()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    rows.append({'case': 'matmul', 'size': n, 'impl': 'pytorch-cuda-f32', 'medianMs': ms,
                 'note': f'{2 * n**3 / (ms * 1e6):.1f} GFLOP/s, {torch.cuda.get_device_name()}'})
    print(f'matmul {n} pytorch-cuda-f32 {ms:.3f} ms')
json.dump(rows, open(out, 'w'), indent=2)
PY
else
  echo "device.sh: PyTorch with CUDA not available; timing calm-ts only"
fi

# ---- 3. bench:gpu on Dawn's Vulkan backend
# Rows get the suffix -nvidia so they sit beside the llvmpipe rows in bench/RESULTS.md; gpujs-webasm
# and gpujs-cpu run on the host CPU (measured by `npm run bench:gpu` anywhere), so they are left out.
CALM_BENCH_BACKENDS="${CALM_BENCH_BACKENDS:-gpujs-webgpu,cpu}" CALM_BENCH_IMPL_SUFFIX="${CALM_BENCH_IMPL_SUFFIX:--nvidia}" \
  CALM_BENCH_REQUIRE=gpujs-webgpu CALM_BENCH_PEERS="$peers" node dist/bench/gpu.js "${quick[@]}"
