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
from compare_torch import Flashjit, SDPBackend, grid_tensors, sdpa  # noqa: E402


def per_call_tflops(fn, flops, calls):
    """TFLOP/s of each of `calls` calls, each timed alone (CUDA events, synchronised after each)."""
    result = []
    for _ in range(calls):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        result.append(flops / start.elapsed_time(stop) / 1e9)
    return result


def burst_tflops(fn, flops, calls):
    """TFLOP/s of `calls` back-to-back calls between one pair of events, after one untimed call."""
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    stop.record()
    stop.synchronize()
    return flops * calls / start.elapsed_time(stop) / 1e9


def show(label, values):
    print(f"{label}: " + " ".join(f"{x:.0f}" for x in values))


def main():
    fj = Flashjit(sys.argv[1])
    torch.manual_seed(0)
    causal = False
    for d, s in ((128, 16384), (128, 2048), (64, 16384)):
        b, h, q, k, v, lse = grid_tensors(d, s)
        o = torch.empty_like(q)
        flops = 4 * b * h * s * s * d
        backends = {"fj": lambda: fj.attention(q, k, v, o, lse, causal),
                    "fa2": lambda: sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, causal),
                    "cudnn": lambda: sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, causal)}
        for fn in backends.values():
            per_call_tflops(fn, flops, 3)
        print(f"== d{d} s{s} causal={causal}")
        for name, fn in backends.items():
            show(f"{name} alone per-call", per_call_tflops(fn, flops, 25))
            print(f"{name} burst 30: {burst_tflops(fn, flops, 30):.0f}")
        for previous in ("cudnn", "fa2", "fj"):
            for name in ("fj", "fa2"):
                per_call_tflops(backends[previous], flops, 12)
                show(f"{name} after {previous}", per_call_tflops(backends[name], flops, 12))
        for name in ("fj", "fa2"):
            time.sleep(1)
            show(f"{name} after 1s idle", per_call_tflops(backends[name], flops, 12))


if __name__ == "__main__":
    main()
