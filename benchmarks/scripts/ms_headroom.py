"""How much a long run gains after a checkpoint (``bench --out`` files, e.g. ``--budget 1024 --retime 5``):
per run, the best at every kept checkpoint as recorded and re-timed, as a share of the run's best at
the budget, and the geometric mean over runs.

    .venv-ms/bin/python benchmarks/scripts/ms_headroom.py benchmarks/results/ms_bench1024_evo_rocketlake.json \
       --strategy evolutionary --checkpoints 64,128,256,512,1024

Re-timed figures are the ``top1`` of bench's re-timing (the checkpoint's recorded best, timed again
with every other kept schedule of the same workload and seed), so that a checkpoint's best and the
budget's are compared on one machine state rather than on their recorded, single-session timings.
``--cache-write``: also, per checkpoint, how many of the kept schedules write the output through a
cache (a ``CacheWrite`` in the trace: the design space they come from).
"""
import argparse
import json
import re

from ms_late_gain import geomean
from ms_paired import speeds

INSTRUCTION = re.compile(r'[(]"(\w+)", [(]')


def cache_writes(run, checkpoint):
    """'3/3' when all three kept schedules at ``checkpoint`` have a CacheWrite in their trace."""
    import tvm

    kept = run["kept"]
    traces = [str(tvm.ir.load_json(kept["traces"][str(i)])) for i in kept["chosen"][str(checkpoint)]]
    with_cache = sum("CacheWrite" in INSTRUCTION.findall(trace) for trace in traces)
    return f"{with_cache}/{len(traces)}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--strategy", default="evolutionary")
    parser.add_argument("--checkpoints", default="64,128,256,512,1024")
    parser.add_argument("--cache-write", action="store_true")
    args = parser.parse_args(argv)

    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    runs = [r for r in json.load(open(args.file))["runs"] if r["strategy"] == args.strategy]
    shares = {measure: {c: [] for c in checkpoints} for measure in ("recorded", "retimed")}
    for run in sorted(runs, key=lambda r: (r["workload"], r["seed"])):
        budget = len(run["best_gflops_curve"])
        final = speeds(run, budget)
        cells = []
        for checkpoint in checkpoints:
            at = speeds(run, checkpoint)
            for measure in ("recorded", "retimed"):
                if measure in at and measure in final:
                    shares[measure][checkpoint].append(at[measure] / final[measure])
            cells.append(f"{checkpoint}: " + " / ".join(f"{at[m]:.1f}" for m in ("recorded", "retimed") if m in at)
                         + (f" (cache write {cache_writes(run, checkpoint)})" if args.cache_write else ""))
        print(f"{run['workload']} seed {run['seed']} (GFLOP/s recorded / re-timed) " + ", ".join(cells))
    for measure, by_checkpoint in shares.items():
        means = [f"{c}: {geomean(v):.3f}" for c, v in by_checkpoint.items() if v]
        if means:
            print(f"{measure}, share of the best at the budget (geometric mean over {len(runs)} runs): " + ", ".join(means))


if __name__ == "__main__":
    main()
