"""What issue #13's trials measure gives a strategy that is the reference itself with another seed, and
one whose best-so-far is ``f`` times the reference's at every trial (``bench --out`` files).

    .venv-ms/bin/python benchmarks/scripts/ms_trials_null.py benchmarks/results/ms_bench256_default5_rocketlake.json \
       --groups 0,1,2 3,4

The measure (bench.py's ``targets``): trials for the challenger's recorded best to reach the reference's
best at the budget, as a share of the budget, geometric mean over runs, a run that never reaches it
counted as 1.0. Here the challenger is another seed of the same strategy on the same workload, its
best-so-far curve scaled by each factor: ordered pairs of seeds within a group (seeds run in one
session, so that the machine's drift between sessions does not enter), every workload. With the factor
1.0 a pair and its reverse cannot both reach unless their bests are equal, so about half the pairs miss
by construction; the factor at which the measure reaches 0.5, and at which no pair misses, says how
much faster than the reference a strategy's best has to rise for the target to be met on these runs.
"""
import argparse
import itertools
import json

from ms_late_gain import geomean
from tvm_arco_plugin.metaschedule.bench import best_at, trials_to_reach


def scaled(run, factor):
    return {**run, "best_gflops_curve": [g * factor for g in run["best_gflops_curve"]]}


def null_measure(runs, strategy, groups, budget, factor):
    """(ordered pairs, misses, geometric mean share with misses as 1.0)."""
    shares, misses = [], 0
    for workload in sorted({r["workload"] for r in runs}):
        by_seed = {r["seed"]: r for r in runs if r["strategy"] == strategy and r["workload"] == workload
                   and len(r["best_gflops_curve"]) >= budget}
        for group in groups:
            for mine, theirs in itertools.permutations([s for s in group if s in by_seed], 2):
                reached = trials_to_reach(scaled(by_seed[mine], factor), best_at(by_seed[theirs], budget),
                                          within=budget)
                misses += reached is None
                shares.append(1.0 if reached is None else reached / budget)
    return len(shares), misses, geomean(shares) if shares else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--strategy", default="evolutionary")
    parser.add_argument("--groups", nargs="+", required=True, metavar="SEEDS",
                        help="comma-separated seeds run in one session; pairs are formed within a group")
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--factors", default="1,1.02,1.05,1.08,1.1,1.15,1.2")
    args = parser.parse_args(argv)

    runs = json.load(open(args.file))["runs"]
    groups = [[int(s) for s in group.split(",")] for group in args.groups]
    for factor in map(float, args.factors.split(",")):
        pairs, misses, share = null_measure(runs, args.strategy, groups, args.budget, factor)
        print(f"{args.strategy} x {factor:.2f} against another seed of itself: {pairs} pairs, "
              f"{misses} never reach its best at {args.budget}, geometric mean share (misses as 1.0) {share:.2f}")


if __name__ == "__main__":
    main()
