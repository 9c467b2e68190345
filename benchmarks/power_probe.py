#!/usr/bin/env python3
"""Power, clock and energy per call of flashjit and FlashAttention-2 under sustained load (GPU machine).

Each backend runs back to back for a few seconds on one shape while nvidia-smi samples the GPU every
50 ms; the first second of each run (clock and power settling) is dropped. Per run it prints TFLOP/s,
mean power, mean SM clock, the throttle reasons seen, and joules per PFLOP: a kernel that needs more
energy for the same work hits the 700 W cap sooner and runs at a lower clock when the load is sustained.
flashjit runs both through its C ABI (the tuned configuration) and, for fixed configurations, through
`flashjit bench` in a subprocess.

  python3 benchmarks/power_probe.py --lib path/to/libflashjit.so --flashjit path/to/flashjit
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import Flashjit, SDPBackend, grid_tensors, sdpa  # noqa: E402

SAMPLE_FIELDS = "timestamp,clocks.sm,power.draw.instant,temperature.gpu,clocks_throttle_reasons.active"


def start_sampler(path):
    """nvidia-smi writing one CSV row every 50 ms to `path` (instant power where the driver has it)."""
    fields = SAMPLE_FIELDS
    if subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv"], capture_output=True).returncode:
        fields = fields.replace("power.draw.instant", "power.draw")
    out = open(path, "w")
    return subprocess.Popen(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits", "-lms", "50"],
                            stdout=out)


def samples_between(path, begin, end):
    """(MHz, W, reasons) rows sampled in [begin, end] (wall-clock seconds)."""
    rows = []
    with open(path) as f:
        for line in csv.reader(f):
            try:
                stamp = time.mktime(time.strptime(line[0].strip().split(".")[0], "%Y/%m/%d %H:%M:%S"))
                stamp += float("0." + line[0].strip().split(".")[1]) if "." in line[0] else 0
                if begin <= stamp <= end:
                    rows.append((float(line[1]), float(line[2]), line[4].strip()))
            except (ValueError, IndexError):
                continue
    return rows


def sustained(fn, seconds):
    """Calls fn back to back for `seconds`; returns (ms per call over the last part, window start, end)."""
    deadline = time.perf_counter() + 1.0  # settling: not measured
    while time.perf_counter() < deadline:
        fn()
        torch.cuda.synchronize()
    begin = time.time()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    calls = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        fn()
        calls += 1
        if calls % 4 == 0:
            torch.cuda.synchronize()  # keep the queue short: the window is GPU time
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / calls, begin, time.time()


def report(label, flops, ms, rows):
    if not rows:
        print(f"{label:<44} {flops / ms / 1e9:6.1f} TFLOP/s  (no power samples)")
        return
    watts = statistics.mean(r[1] for r in rows)
    mhz = statistics.mean(r[0] for r in rows)
    reasons = sorted({r[2] for r in rows})
    joules_per_pflop = watts * ms / 1e3 / (flops / 1e15)
    print(f"{label:<44} {flops / ms / 1e9:6.1f} TFLOP/s  {watts:5.0f} W  {mhz:5.0f} MHz  {joules_per_pflop:5.2f} J/PFLOP"
          f"  throttle {','.join(reasons)}  ({len(rows)} samples)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, help="libflashjit.so")
    parser.add_argument("--flashjit", required=True, help="the flashjit tool (for fixed configurations)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--configs", default="128,32,4,2;128,64,4,2",
                        help="block_m,block_n,warps,stages;... run through flashjit bench")
    a = parser.parse_args()
    fj = Flashjit(a.lib)
    log = tempfile.NamedTemporaryFile(suffix=".csv", delete=False).name
    sampler = start_sampler(log)
    time.sleep(0.5)
    torch.manual_seed(0)
    try:
        for d, s in ((128, 16384), (128, 2048), (64, 16384)):
            b, h, q, k, v, lse = grid_tensors(d, s)
            o = torch.empty_like(q)
            flops = 4 * b * h * s * s * d
            print(f"== d{d} s{s} batch {b} heads {h} bf16 non-causal, {a.seconds:.0f} s per run", flush=True)
            for name, fn in (("fa2", lambda: sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, False)),
                             ("flashjit (tuned, C ABI)", lambda: fj.attention(q, k, v, o, lse, False))):
                time.sleep(1.5)  # idle between runs: each starts from the same cool state
                ms, begin, end = sustained(fn, a.seconds)
                time.sleep(0.2)
                report(name, flops, ms, samples_between(log, begin, end))
            for config in a.configs.split(";"):
                bm, bn, warps, stages = config.split(",")
                time.sleep(1.5)
                repeats = max(50, int(a.seconds * 1e3 / (flops / 330e12 * 1e3)))
                begin = time.time()
                run = subprocess.run([a.flashjit, "bench", "--head-dim", str(d), "--chip", "sm_90", "--block-m", bm,
                                      "--block-n", bn, "--warps", warps, "--stages", stages, "--batch", str(b),
                                      "--heads", str(h), "--seqlen-q", str(s), "--seqlen-k", str(s),
                                      "--warmup", str(repeats // 3), "--repeats", str(repeats)],
                                     capture_output=True, text=True)
                end = time.time()
                median = [line for line in run.stdout.splitlines() if "median" in line]
                if run.returncode or not median:
                    print(f"flashjit bench {config}: failed: {run.stdout[-300:]} {run.stderr[-300:]}")
                    continue
                ms = float(median[0].split("median")[1].split()[0])
                # the last 60% of the run: after the compile, the load and the warm-up
                report(f"flashjit bench {bm}x{bn} w{warps} s{stages}", flops, ms,
                       samples_between(log, end - 0.6 * (end - begin), end))
            del q, k, v, o, lse
    finally:
        sampler.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
