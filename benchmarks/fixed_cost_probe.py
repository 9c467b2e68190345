#!/usr/bin/env python3
"""Per-CTA fixed cost against per-key cost: time against seqlen_k at a fixed short seqlen_q (GPU machine).

For batch 32, heads 2048 / head_dim, seqlen_q 512 (the papers' seqlen-512 point) and seqlen_k from 64 to
2048, times torch SDPA's FlashAttention-2 backend and flashjit's kernels for the given configurations
(`flashjit bench`), non-causal bf16: the intercept of time against seqlen_k is the cost every thread block
pays once (query load, output store, launch), the slope the cost of each key block.

  python3 benchmarks/fixed_cost_probe.py path/to/flashjit HEAD_DIM "--block-m 128 --warps 4 --block-n 32 --stages 2" ...
"""
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def fa2_ms(b, h, sq, sk, d):
    q = torch.randn(b, h, sq, d, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(b, h, sk, d, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    times = []
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        for i in range(25):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            F.scaled_dot_product_attention(q, k, v)
            stop.record()
            stop.synchronize()
            if i >= 5:
                times.append(start.elapsed_time(stop))
    return statistics.median(times)


def flashjit_ms(tool, cfg, b, h, sq, sk, d):
    out = subprocess.run([tool, "bench", "--head-dim", str(d), "--chip", "sm_90", *cfg.split(), "--batch", str(b),
                          "--heads", str(h), "--seqlen-q", str(sq), "--seqlen-k", str(sk)],
                         capture_output=True, text=True).stdout
    line = [x for x in out.splitlines() if "median" in x][0]
    return float(line.split("median")[1].split()[0])


def main():
    tool, d, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    b, h, sq = 32, 2048 // d, 512
    lengths = (64, 128, 256, 512, 1024, 2048)
    print(f"d{d} batch {b} heads {h} seqlen_q {sq}, non-causal bf16: median ms per seqlen_k {lengths}")
    rows = [("fa2", [fa2_ms(b, h, sq, sk, d) for sk in lengths])]
    rows += [(cfg, [flashjit_ms(tool, cfg, b, h, sq, sk, d) for sk in lengths]) for cfg in configs]
    for name, ms in rows:
        # least-squares line through (seqlen_k, ms)
        mx, my = statistics.mean(lengths), statistics.mean(ms)
        slope = sum((x - mx) * (y - my) for x, y in zip(lengths, ms)) / sum((x - mx) ** 2 for x in lengths)
        print(f"{name:<52} " + " ".join(f"{t:7.3f}" for t in ms) +
              f"   fixed {1e3 * (my - slope * mx):6.1f} us, per 64 keys {64e3 * slope:5.1f} us")


if __name__ == "__main__":
    main()
