#!/usr/bin/env bash
# Trains the small autoencoder + CALM pair shipped in play/pretrained/ with the project's own CLI, and
# copies the weights and the run config there (about 1.6 MB). CPU: about 4 + 6 minutes on 2 idle cores.
#   bash scripts/play-pretrained.sh [WORKDIR]      (npm run build first)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-runs/play-pretrained}"
calm="node dist/src/cli/calm.js"
rm -rf "$work"
$calm train-ae --out "$work/ae" --steps 1200 --batch 128 --hidden 64 --latent 32 --lr 5e-3 \
  --eval-every 400 --checkpoint-every 400 --valid-chunks 512 --report-chunks 1024 --quiet
$calm train --model calm --autoencoder "$work/ae" --out "$work/calm" --steps 400 --dim 64 --layers 2 --heads 4 \
  --eval-every 200 --checkpoint-every 200 --valid-blocks 16 --brier-blocks 32 --quiet
out=play/pretrained
mkdir -p "$out"
cp "$work/calm/config.json" "$out/config.json"
cp "$work/calm/checkpoint/model.safetensors" "$out/calm.safetensors"
cp "$work/calm/autoencoder/model.safetensors" "$out/autoencoder.safetensors"
cp "$work/ae/robustness.json" "$out/autoencoder-robustness.json"
echo "play-pretrained: wrote $out ($(du -sh "$out" | cut -f1))"
