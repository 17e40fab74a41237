#!/usr/bin/env bash
# scripts/calm-recipe-sweep.sh: the autoencoder sweep behind `calm experiment`'s latent size (README,
# "How we chose the CALM recipe"). Each configuration trains an autoencoder with the experiment's recipe
# (K = 4, 1500 steps of 128 chunks, peak lr 5e-3), a CALM against it with the experiment's matched-FLOPs
# step count (1154 steps of 16 blocks x 16 chunks), and scores it with `calm eval` over the experiment's
# 1000 held-out blocks (seed 1001). Seed 1 everywhere; results do not depend on the thread count.
#
#   bash scripts/calm-recipe-sweep.sh OUT [NAME ...]    # all configurations, or the named ones
#
# Each configuration takes about 7 minutes on 2 cores; set PARALLEL=n to run n at once (2 threads each).
# A configuration's own flags come after the common ones, so they override them: the -h64 rows give CALM
# the matched-FLOPs steps of an autoencoder of width 64 (its encoder, which makes the targets, costs a
# quarter of width 128's; steps from flops.ts's matchedSteps).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: calm-recipe-sweep.sh OUT [NAME ...]}; shift
mkdir -p "$out"
# name | train-ae flags | train --model calm flags
configs='
l128-b1e-3   --latent 128 --beta 1e-3
l128-b4e-3   --latent 128 --beta 4e-3
l128-b1.5e-2 --latent 128 --beta 1.5e-2
l128-b1.5e-2-alpha1 --latent 128 --beta 1.5e-2 | --energy-exponent 1
l128-b5e-2   --latent 128 --beta 5e-2
l64-b4e-3    --latent 64 --beta 4e-3
l32-b1e-3    --latent 32 --beta 1e-3
l32-b1.5e-2  --latent 32 --beta 1.5e-2
l16-b1.5e-2  --latent 16 --beta 1.5e-2
l32-b5e-2    --latent 32 --beta 5e-2
l32-b1.5e-1  --latent 32 --beta 1.5e-1
l32-b1.5e-2-m64 --latent 32 --beta 1.5e-2 | --target-samples 64
l32-b1e-3-lr4e-3 --latent 32 --beta 1e-3 | --lr 4e-3 --min-lr 4e-4
l32-h64      --latent 32 --beta 1e-3 --hidden 64 | --steps 1681 --eval-every 1681 --checkpoint-every 1681
l32-b1.5e-2-h64 --latent 32 --beta 1.5e-2 --hidden 64 | --steps 1681 --eval-every 1681 --checkpoint-every 1681
'
one() {
  local name=$1 ae=$2 lm=$3 d=$out/$1
  local calm=(node dist/src/cli/calm.js)
  {
    echo "== $name: train-ae $ae | train --model calm $lm"
    CALM_THREADS=2 "${calm[@]}" train-ae --out "$d/ae" --steps 1500 --batch 128 --lr 5e-3 --min-lr 5e-4 --warmup 50 \
      --eval-every 1500 --checkpoint-every 1500 --valid-chunks 1024 --quiet $ae
    CALM_THREADS=2 "${calm[@]}" train --model calm --autoencoder "$d/ae" --out "$d/calm" --steps 1154 --chunks 16 --warmup 50 \
      --valid-blocks 64 --eval-every 1154 --checkpoint-every 1154 --quiet $lm
    CALM_THREADS=2 "${calm[@]}" eval --checkpoint "$d/calm" --blocks 1000 --block-size 64 --seed 1001
  } > "$out/$name.log" 2>&1 && echo "$name done" || echo "$name FAILED (see $out/$name.log)"
}
[ -f dist/src/cli/calm.js ] || npm run build
running=0
while read -r name rest; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  ae=${rest%%|*}; lm=$([[ $rest == *'|'* ]] && echo "${rest#*|}" || true)
  one "$name" "$ae" "$lm" &
  running=$((running + 1))
  if [ "$running" -ge "${PARALLEL:-1}" ]; then wait -n; running=$((running - 1)); fi
done <<< "$configs"
wait
