#!/usr/bin/env bash
# GPU machine: Nsight Compute on flashjit's kernels and torch's FlashAttention-2 kernel at one point of the
# papers' grid (16k tokens, hidden 2048, bf16), one launch each after three: time, throughput, occupancy,
# memory traffic and warp stall reasons, side by side in $OUT/ncu-<point>.txt. FLASHJIT_CHIP picks the
# target (default sm_90; sm_90a: the wgmma path); TORCH picks torch's kernel to set beside them: fa2
# (FlashAttention-2, the default), cudnn (cuDNN's fused attention), 0 (none).
#   usage: [FLASHJIT_CHIP=sm_90a] [TORCH=0] scripts/gpu-ncu.sh HEAD_DIM SEQLEN none|bottom_right "--block-m 128 --warps 4 --block-n 32 --stages 2" ...
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-unpack.sh   # out, work, bin; a cold kernel cache
source scripts/gpu-grid-point.sh   # headDim, seqlen, causal, batch, heads; shifts them off
report=$out/ncu-d$headDim-s$seqlen-$causal.txt
sections="--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
  --section SchedulerStats --section MemoryWorkloadAnalysis --section InstructionStats"
{
  echo "# ncu --clock-control none, d$headDim seqlen $seqlen causal $causal, batch $batch heads $heads, bf16"
  for cfg in "$@"; do
    echo "=== flashjit $cfg"
    ncu --clock-control none $sections -k regex:attention_fwd --launch-skip 3 --launch-count 1 \
      "$bin/flashjit" bench --head-dim "$headDim" --causal "$causal" $cfg --chip "${FLASHJIT_CHIP:-sm_90}" --batch $batch \
      --heads $heads --seqlen-q $seqlen --seqlen-k $seqlen --warmup 3 --repeats 1 2>&1 | grep -vE "^==PROF==|^  median"
  done
  torch=${TORCH:-fa2}
  if [ "$torch" != 0 ]; then
    case $torch in
      cudnn) backend=CUDNN_ATTENTION kernels="regex:sdpa|fmha|flash_fprop|cudnn" ;;
      *) backend=FLASH_ATTENTION kernels=regex:flash_fwd ;;
    esac
    echo "=== torch $backend"
    isCausal=$([ "$causal" = none ] && echo False || echo True)
    ncu --clock-control none $sections -k "$kernels" --launch-skip 3 --launch-count 1 python3 -c "
import torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
q, k, v = (torch.randn($batch, $heads, $seqlen, $headDim, device='cuda', dtype=torch.bfloat16) for _ in range(3))
with sdpa_kernel(SDPBackend.$backend):
    for _ in range(5):
        F.scaled_dot_product_attention(q, k, v, is_causal=$isCausal)
torch.cuda.synchronize()" 2>&1 | grep -vE "^==PROF=="
  fi
} > "$report"
cat "$report"
