#!/usr/bin/env python3
"""How one backend's run changes the next one's speed on the GPU machine (clock and power state).

For d128 16k, d128 2k and d64 16k tokens (bf16, non-causal, the compare_torch grid's shapes), times
flashjit, torch SDPA's FlashAttention-2 and its cuDNN backend call by call (TFLOP/s per call): alone, in a
back-to-back burst, right after 12 calls of each other backend, and after 1 s idle. Run beside
`nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 100`.

  python3 benchmarks/warm_up_probe.py path/to/libflashjit.so
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import Flashjit, sdpa, SDPBackend
fj = Flashjit(sys.argv[1])
torch.manual_seed(0)
for d, s, causal in ((128, 16384, False), (128, 2048, False), (64, 16384, False)):
    b, h = 16384 // s, 2048 // d
    q, k, v = (torch.randn(b, s, h, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.empty_like(q); lse = torch.empty(b, h, s, device="cuda", dtype=torch.float32)
    flops = 4 * b * h * s * s * d / (2 if causal else 1)
    fns = {"fj": lambda: fj.attention(q, k, v, o, lse, causal),
           "fa2": lambda: sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, causal),
           "cudnn": lambda: sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, causal)}
    def times(fn, n):
        out = []
        for _ in range(n):
            a, z = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); fn(); z.record(); z.synchronize(); out.append(flops / a.elapsed_time(z) / 1e9)
        return out
    def burst(fn, n):  # back to back, one event pair
        fn(); torch.cuda.synchronize()
        a, z = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n): fn()
        z.record(); z.synchronize(); return flops * n / a.elapsed_time(z) / 1e9
    for f in fns.values(): times(f, 3)
    print(f"== d{d} s{s} causal={causal}")
    for name in ("fj", "fa2", "cudnn"):
        print(f"{name} alone per-call: " + " ".join(f"{x:.0f}" for x in times(fns[name], 25)))
        print(f"{name} burst 30: {burst(fns[name], 30):.0f}")
    for prev in ("cudnn", "fa2", "fj"):
        for name in ("fj", "fa2"):
            times(fns[prev], 12)
            print(f"{name} after {prev}: " + " ".join(f"{x:.0f}" for x in times(fns[name], 12)))
    time.sleep(1)
    print(f"fj after 1s idle: " + " ".join(f"{x:.0f}" for x in times(fns['fj'], 12)))
    time.sleep(1)
    print(f"fa2 after 1s idle: " + " ".join(f"{x:.0f}" for x in times(fns['fa2'], 12)))
