#!/usr/bin/env python3
"""Compile time A/B of two builds of the flashjit tool: `flashjit compile --time` for each configuration,
the builds interleaved round by round (base first in even rounds, new first in odd ones), per-stage
medians in ms (and every round's line).

    usage: compile_time_ab.py BASE_FLASHJIT NEW_FLASHJIT [--rounds N]
Run on an idle machine: the compiler is single-threaded, but anything else running shifts the numbers.
"""
import argparse
import re
import statistics
import subprocess

CONFIGS = [
    "--head-dim 128 --chip sm_90a",
    "--head-dim 128 --chip sm_90a --block-m 128 --block-n 192 --warps 8 --tma --warp-specialized --wg-overlap",
    "--head-dim 64 --chip sm_80 --causal bottom_right",
]


def compile_time(flashjit, config):
    out = subprocess.run([flashjit, "compile", *config.split(), "--time"], capture_output=True, text=True,
                         check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("compile time:"))
    total = float(re.search(r"compile time: ([0-9.]+) ms", line).group(1))
    stages = dict((name, float(ms)) for name, ms in re.findall(r"([a-z-]+) ([0-9.]+)", line.split("):")[1]))
    return line, {"total": total, **stages}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    lines, times = [], {}
    for config in CONFIGS:
        for build in ("base", "new"):  # warm up: the first compile of a process pays for loading
            compile_time(getattr(args, build), config)
        for round in range(args.rounds):
            for build in (("base", "new") if round % 2 == 0 else ("new", "base")):  # either order in turn
                line, stages = compile_time(getattr(args, build), config)
                lines.append(f"{build}|{config}|{line}")
                for stage, ms in stages.items():
                    times.setdefault((config, stage), {}).setdefault(build, []).append(ms)
    for config in CONFIGS:
        print(config)
        for (c, stage), by_build in times.items():
            if c != config:
                continue
            median = {b: (f"{statistics.median(v):7.1f}" if v else "      -") for b, v in
                      ((b, by_build.get(b, [])) for b in ("base", "new"))}
            print(f"  {stage:10} base {median['base']}  new {median['new']}  ms (median of {args.rounds}, interleaved)")
    print("\n# every round:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
