#!/usr/bin/env bash
# GPU machine: A/B timing of two bundles (or two environments of one bundle), interleaved over rounds, on
# the papers' grid (16k tokens, hidden 2048, bf16). Each variant is NAME:BUNDLE[:VAR=VALUE ...]; the
# bundle is a .tar.xz from scripts/gpu-pack.sh (scripts/gpu-pack-baseline.sh REV packs an earlier revision's). Prints
# one line per round, variant, head dim, block_n and causal mode with the TFLOP/s at each seqlen.
#   usage: [ROUNDS=2] [SEQLENS="512 2048 16384"] [CONFIGS="128:64 128:32 64:64"] \
#          scripts/gpu-ab.sh old:.bundle/old.tar.xz new:.bundle/flashjit-gpu.tar.xz
# CONFIGS lists head_dim:block_n[:block_m:warps:stages[:flag]] (default block_m 128, 4 warps, 2 stages;
# flags: more options of flashjit bench joined by commas, such as --tma,--wg-overlap); CAUSAL the masks
# (default "none bottom_right"). The
# kernel cache is off, so an environment variable that changes code generation (FLASHJIT_CHIP=sm_90a
# included) takes effect.
set -uo pipefail
cd "$(dirname "$0")/.."
export CUDA_CACHE_DISABLE=1 FLASHJIT_CACHE=0
declare -A tools
for variant in "$@"; do
  IFS=: read -r name bundle _ <<< "$variant"
  dir=$(mktemp -d /tmp/flashjit-ab.XXXXXX)
  tar -C "$dir" -xJf "$bundle" || { echo "gpu-ab: cannot unpack $bundle"; exit 1; }
  tools[$name]=$dir/flashjit/bin/flashjit
done
for round in $(seq "${ROUNDS:-2}"); do
  for pair in ${CONFIGS:-128:64 128:32 64:64}; do
    IFS=: read -r headDim blockN blockM warps stages flag <<< "$pair"
    blockM=${blockM:-128} warps=${warps:-4} stages=${stages:-2}
    for causal in ${CAUSAL:-none bottom_right}; do
      for variant in "$@"; do
        IFS=: read -r name _ settings <<< "$variant"
        echo -n "r$round d$headDim ${blockM}x$blockN w$warps s$stages${flag:+ $flag} $causal $name:"
        for seqlen in ${SEQLENS:-512 2048 16384}; do
          env ${settings//:/ } "${tools[$name]}" bench --head-dim "$headDim" --causal "$causal" --block-m "$blockM" \
            --warps "$warps" --block-n "$blockN" --stages "$stages" ${flag//,/ } --seqlen-q "$seqlen" --seqlen-k "$seqlen" \
            --batch $((16384 / seqlen)) --heads $((2048 / headDim)) | grep -oE " [0-9.]+ TFLOP/s" | tr -d '\n'
        done
        echo
      done
    done
  done
done
