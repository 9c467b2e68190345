#!/usr/bin/env bash
# compute-sanitizer over `flashjit run` on shapes with tails: memcheck on several kernels, racecheck,
# synccheck and initcheck on one small case each. Prints one line per run and exits non-zero if any run
# reports an error or fails its check.   gpu-sanitize.sh FLASHJIT_BINARY LOG_FILE
set -uo pipefail
flashjit=$1
log=$2
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
: > "$log"
failures=0
check() { # tool, then flashjit run options
  local tool=$1
  shift
  echo "=== compute-sanitizer --tool $tool flashjit run $*" >> "$log"
  "$sanitizer" --tool "$tool" --error-exitcode 3 "$flashjit" run "$@" >> "$log" 2>&1
  local status=$?
  local summary
  summary=$(grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$log" | tail -n 1)
  if [ $status -eq 0 ]; then echo "clean  $tool: $* ($summary)"; else echo "FAILED $tool (status $status): $* ($summary)"; failures=$((failures + 1)); fi
}
check memcheck --head-dim 128 --dtype bf16 --causal bottom_right --batch 2 --heads 3 --seqlen-q 129 --seqlen-k 127
check memcheck --head-dim 64 --dtype f16 --causal top_left --heads 2 --seqlen-q 7 --seqlen-k 1000 --layout BHSD
check memcheck --head-dim 128 --dtype f16 --heads 8 --kv-heads 2 --seqlen-q 1000 --seqlen-k 7
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right --no-lse --seqlen-q 1 --seqlen-k 1
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right --block-m 128 --warps 8 --block-n 32 --stages 3 \
  --heads 2 --seqlen-q 700 --seqlen-k 333
check memcheck --head-dim 128 --dtype bf16 --block-m 128 --warps 8 --block-n 64 --stages 2 --seqlen-q 300 --seqlen-k 257
check memcheck --head-dim 128 --dtype f16 --causal bottom_right --block-m 128 --warps 4 --block-n 32 --stages 3 \
  --heads 2 --seqlen-q 300 --seqlen-k 257
# Hopper: three computing warpgroups at head_dim 128 (the head_dim 64 default has three too).
check memcheck --head-dim 128 --dtype bf16 --causal bottom_right --block-m 192 --warps 12 --block-n 64 --stages 2 \
  --tma --warp-specialized --wg-overlap --heads 2 --seqlen-q 300 --seqlen-k 257
# Persistent blocks (one per multiprocessor, looping over 420 tiles): the output staged in the query's
# bytes while the producer loads the next tile's keys.
check memcheck --head-dim 128 --dtype bf16 --causal bottom_right --block-m 128 --warps 8 --block-n 128 --stages 2 \
  --tma --warp-specialized --wg-overlap --persistent --batch 2 --heads 70 --seqlen-q 260 --seqlen-k 300
check racecheck --head-dim 128 --dtype bf16 --block-m 128 --warps 8 --block-n 128 --stages 2 \
  --tma --warp-specialized --wg-overlap --persistent --batch 2 --heads 70 --seqlen-q 260 --seqlen-k 300
# Warpgroups ending the key loop at their own rows (192-row tiles under a causal mask): the idle turns keep
# the K/V rings and the ping-pong barriers in step.
W12="--block-m 192 --warps 12 --block-n 128 --stages 2 --tma --warp-specialized --wg-overlap"
check memcheck --head-dim 64 --dtype bf16 --causal top_left $W12 --heads 2 --seqlen-q 1000 --seqlen-k 1000
check racecheck --head-dim 64 --dtype bf16 --causal top_left $W12 --seqlen-q 500 --seqlen-k 500
check synccheck --head-dim 64 --dtype bf16 --causal bottom_right $W12 --seqlen-q 450 --seqlen-k 500
# ... and in persistent blocks (a block's tiles of both ends of a head, 12 warps).
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right $W12 --persistent --batch 2 --heads 70 --seqlen-q 900 --seqlen-k 1000
check racecheck --head-dim 64 --dtype bf16 --causal bottom_right $W12 --persistent --batch 2 --heads 40 --seqlen-q 450 --seqlen-k 500
# The last key block, half hidden, run after the loop (64-row tiles of 128-key blocks).
P64="--block-m 64 --warps 4 --block-n 128 --stages 2 --tma"
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right $P64 --heads 2 --seqlen-q 937 --seqlen-k 1000
check racecheck --head-dim 64 --dtype bf16 --causal bottom_right $P64 --heads 2 --seqlen-q 937 --seqlen-k 1000
# ... and the short last block (128 of 192 keys) with a producer warpgroup and the softmax overlap: the
# deferred P·V drained over the short block's keys; a seqlen_k tail without a mask, and persistent.
WS="--tma --warp-specialized --wg-overlap"
check memcheck --head-dim 128 --dtype bf16 --block-m 128 --warps 8 --block-n 192 --stages 2 $WS --heads 2 --seqlen-q 300 --seqlen-k 1100
check racecheck --head-dim 128 --dtype bf16 --block-m 128 --warps 8 --block-n 192 --stages 2 $WS --seqlen-q 260 --seqlen-k 1064
check memcheck --head-dim 128 --dtype bf16 --causal bottom_right --block-m 128 --warps 8 --block-n 128 --stages 2 $WS \
  --persistent --batch 2 --heads 70 --seqlen-q 260 --seqlen-k 1064
# Conditional rescaling: the output's multiplies behind the warp's vote, one warpgroup and persistent blocks.
CR="--tma --conditional-rescale"
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right --block-m 64 --warps 4 --block-n 128 --stages 2 $CR \
  --heads 2 --seqlen-q 937 --seqlen-k 1000
check racecheck --head-dim 128 --dtype bf16 --causal bottom_right --block-m 128 --warps 8 --block-n 128 --stages 2 $CR \
  --warp-specialized --wg-overlap --persistent --batch 2 --heads 40 --seqlen-q 260 --seqlen-k 300
# The split tail (persistent, no mask): the last partial wave alone (FLASHJIT_SPLIT_TAIL=wave), 28 tiles of 9
# key blocks over 132 blocks, up to 6 parts a tile: the parts' stores, the counters, the merge; a barrier
# that ORs the last part's answer (synccheck).
export FLASHJIT_SPLIT_TAIL=wave
SPLIT="--block-m 128 --warps 8 --block-n 128 --stages 2 --tma --warp-specialized --wg-overlap --persistent"
check memcheck --head-dim 128 --dtype bf16 $SPLIT --heads 20 --seqlen-q 1000 --seqlen-k 1100
check racecheck --head-dim 128 --dtype bf16 $SPLIT --heads 20 --seqlen-q 1000 --seqlen-k 1100
check synccheck --head-dim 64 --dtype f16 $SPLIT --conditional-rescale --heads 20 --seqlen-q 1000 --seqlen-k 1100
# The row sums by P·V (head_dim 64): the tile of ones written by 128 threads and fenced for wgmma before the
# block's barrier; one warpgroup under a causal mask, persistent blocks with the split tail's merge.
RS="--block-m 128 --warps 8 --block-n 128 --stages 2 --tma --warp-specialized --wg-overlap --persistent --mma-row-sum"
check racecheck --head-dim 64 --dtype bf16 $RS --heads 20 --seqlen-q 1000 --seqlen-k 1100
check memcheck --head-dim 64 --dtype bf16 --causal bottom_right $RS --batch 2 --heads 40 --seqlen-q 260 --seqlen-k 1064
unset FLASHJIT_SPLIT_TAIL
check racecheck --head-dim 64 --dtype bf16 --causal bottom_right --block-m 64 --warps 4 --block-n 128 --stages 2 $CR \
  --mma-row-sum --heads 2 --seqlen-q 937 --seqlen-k 1000
check synccheck --head-dim 64 --dtype bf16 --seqlen-q 700 --seqlen-k 333
check racecheck --head-dim 128 --dtype bf16 --block-m 128 --warps 4 --block-n 32 --stages 2 --seqlen-q 129 --seqlen-k 200
check synccheck --head-dim 128 --dtype bf16 --causal top_left --seqlen-q 129 --seqlen-k 200
check initcheck --head-dim 128 --dtype f16 --seqlen-q 65 --seqlen-k 190
echo "compute-sanitizer: $failures failed"
[ $failures -eq 0 ]
