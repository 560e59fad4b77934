"""Timing noise of this host, as MetaSchedule's LocalRunner times schedules during a tune.

    .venv-ms/bin/python benchmarks/scripts/ms_noise.py --db benchmarks/priors_znver3/resnet18_conv2d_14 \\
        --top 4 --random 4 --timings 5 --out benchmarks/results/ms_noise_rocketlake.json

Takes the ``--top`` fastest and ``--random`` other recorded schedules of the workload in a JSON
database, builds each once (``local_builder``) and times each ``--timings`` times with MetaSchedule's
default ``LocalRunner``, one round over all schedules per timing (so that a slow spell of the machine
touches every schedule). Writes per schedule its GFLOP/s in every timing and max / min; and per round
which schedule was fastest: when two strategies' best differ by less than this spread, one timing
each does not tell which found the faster schedule.
"""
import argparse
import json
import sys

import numpy as np

from tvm_arco_plugin.metaschedule._tvm import require_metaschedule
from tvm_arco_plugin.metaschedule.prior import _measured_records, _replayed
from tvm_arco_plugin.metaschedule.retime import build_once, time_in_rounds
from tvm_arco_plugin.metaschedule.strategy import run_seconds
from tvm_arco_plugin.metaschedule.workloads import default_target
from tvm_arco_plugin.target import host_cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="work dir with a MetaSchedule JSON database of one workload")
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--random", type=int, default=4)
    parser.add_argument("--timings", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tvm, ms = require_metaschedule()
    try:
        records = _measured_records(ms, args.db)
    except ValueError as err:
        parser.error(str(err))
    if len({str(r.workload.mod) for r in records}) != 1 or len(records) < args.top + args.random:
        parser.error(f"{args.db} must hold at least {args.top + args.random} measured records of one workload")
    records.sort(key=run_seconds)
    rest = np.random.default_rng(args.seed).choice(np.arange(args.top, len(records)), args.random, replace=False)
    chosen = records[: args.top] + [records[int(i)] for i in sorted(rest)]
    mod = chosen[0].workload.mod
    candidates, _, skipped = _replayed(ms, mod, chosen)
    if skipped:
        parser.error(f"{skipped} of the chosen records no longer replay on this TVM")
    flops = float(tvm.s_tir.analysis.estimate_tir_flops(mod))
    built = build_once(candidates, default_target())
    failed = [r.error_msg for r in built if r.error_msg]
    if failed:
        parser.error(f"{len(failed)} schedule(s) failed to build; first: {failed[0].splitlines()[0]}")
    seconds, errors = time_in_rounds(built, candidates, args.timings)
    for error in errors:
        print("timing failed:", error, file=sys.stderr)
    gflops = [[None if np.isnan(sec) else flops / sec / 1e9 for sec in series] for series in seconds]
    spreads = [max(s) / min(s) for s in gflops if None not in s]
    if not spreads:
        parser.error("every schedule failed in at least one timing (the reasons are above)")
    fastest = [int(np.argmax([s[t] or 0.0 for s in gflops])) for t in range(args.timings)]
    result = {"cpu": host_cpu(), "db": args.db, "timings": args.timings, "recorded_gflops":
              [flops / run_seconds(r) / 1e9 for r in chosen], "gflops": gflops,
              "max_over_min": spreads, "fastest_per_timing": fastest,
              "median_max_over_min": float(np.median(spreads)), "largest_max_over_min": float(max(spreads))}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    for recorded, series in zip(result["recorded_gflops"], gflops):
        spread = f"{max(series) / min(series):.2f}" if None not in series else "(a timing failed)"
        print(f"recorded {recorded:6.1f}  here " + " ".join("  fail" if g is None else f"{g:6.1f}" for g in series)
              + f"   max/min {spread}")
    print(f"max/min per schedule: median {result['median_max_over_min']:.2f}, largest "
          f"{result['largest_max_over_min']:.2f}; fastest per timing: {fastest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
