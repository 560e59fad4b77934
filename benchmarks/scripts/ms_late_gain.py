"""Late rounds of MetaSchedule benchmark runs (``bench --out``): per strategy, how much its best rose from
half the budget to the budget, and the trials it took to reach the reference's best at the budget.

    .venv-ms/bin/python benchmarks/scripts/ms_late_gain.py benchmarks/results/ms_bench256_lategen_rocketlake.json \
       --strategies arco,arco_noagents,arco_lategenerations,evolutionary --compare arco_lategenerations:arco

Per strategy: the geometric mean of best-at-budget / best-at-half over its runs; then, from bench.py's
``targets`` with the strategy as the challenger: in how many runs its recorded best reached the
reference's best at the budget, at which trials, and the geometric mean share of the budget with the runs
that never reached it counted as 1.0 (a lower bound then); and, for runs re-timed (``--retime``), in how
many pairs its re-timed best at half the budget was at least the reference's at the budget.
``--compare A:B``: run by run, A's gain against B's. ``--per-run``: each run's trials, by workload and seed.
``--by-level A:B``: does B gain more than A only because it is further behind at half the budget? Over both
strategies' runs, a least-squares fit of log(gain) on the run's level at half the budget (log of its best
there over the median best at the budget of both strategies' runs of the workload's other seeds, so that
a run's own late gain is not in its level) and on being B's run: B's extra log gain without and with the
level, the level's slope, and a bootstrap 95% interval (2,000 resamples of runs, seed 0) of the latter.
"""
import argparse
import json
import math

import numpy as np

from tvm_arco_plugin.metaschedule.bench import best_at, targets


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values))


def gain(run, budget):
    return best_at(run, budget) / best_at(run, budget // 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--strategies", help="comma-separated; default every strategy in the file")
    parser.add_argument("--reference", default="evolutionary")
    parser.add_argument("--seeds", help="comma-separated; default every seed the reference ran")
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--compare", action="append", default=[], metavar="A:B")
    parser.add_argument("--per-run", action="store_true", help="also each run's trials, by workload and seed")
    parser.add_argument("--by-level", action="append", default=[], metavar="A:B",
                        help="B's extra late gain over A's, without and with each run's level at half the budget")
    args = parser.parse_args(argv)

    seeds = None if args.seeds is None else {int(s) for s in args.seeds.split(",")}
    selected = [r for r in json.load(open(args.file))["runs"] if seeds is None or r["seed"] in seeds]
    runs = {(r["workload"], r["strategy"], r["seed"]): r for r in selected}
    pairs = sorted((w, s) for w, st, s in runs if st == args.reference)
    strategies = (args.strategies.split(",") if args.strategies
                  else sorted({st for _, st, _ in runs}))
    half, budget = args.budget // 2, args.budget
    for strategy in strategies:
        verdict = targets(selected, challenger=strategy, reference=args.reference, budget=budget)
        trials = verdict["trials_to_reference_best"]
        reached = [n for n in trials["trials"] if n is not None]
        line = (f"{strategy}: gain {half}->{budget} "
                f"{geomean([gain(runs[(w, strategy, s)], budget) for w, s in pairs]):.3f}x; "
                f"reached {trials['reached']} of {len(trials['trials'])}, trials {sorted(reached)}, "
                f"geometric mean share (misses as 1.0) {trials['geomean_share']:.2f}")
        if "retimed" in verdict:
            at_half = verdict["retimed"]["half_budget_reaches_reference"]
            line += (f"; re-timed best at {half} >= {args.reference}'s at {budget} "
                     f"in {at_half['reached']} of {at_half['pairs']}")
        print(line)
        if args.per_run:
            print("  " + ", ".join(f"{w} seed {s}: {n or 'never'}" for (w, s), n in zip(verdict["pairs"], trials["trials"])))
    for pair in args.compare:
        a, b = pair.split(":")
        ratios = [gain(runs[(w, a, s)], budget) / gain(runs[(w, b, s)], budget) for w, s in pairs]
        print(f"{a}'s gain against {b}'s: above {sum(r > 1 for r in ratios)}, equal {sum(r == 1 for r in ratios)}, "
              f"below {sum(r < 1 for r in ratios)} ({geomean(ratios):.3f}x)")
    for pair in args.by_level:
        print(gain_by_level(runs, pair.split(":"), budget))


def gain_by_level(runs, strategies, budget):
    """The ``--by-level`` fit (module docstring), as one line."""
    chosen = [(key, run) for key, run in runs.items() if key[1] in strategies]
    levels, gains, is_b = [], [], []
    for (workload, strategy, seed), run in chosen:
        others = [best_at(o, budget) for (w, _, s), o in chosen if w == workload and s != seed]
        levels.append(math.log(best_at(run, budget // 2) / float(np.median(others))))
        gains.append(math.log(gain(run, budget)))
        is_b.append(float(strategy == strategies[1]))
    x, y, b = map(np.asarray, (levels, gains, is_b))
    with_level = np.column_stack([np.ones_like(x), x, b])
    fit = np.linalg.lstsq(with_level, y, rcond=None)[0]
    without = np.linalg.lstsq(with_level[:, [0, 2]], y, rcond=None)[0][1]
    rng = np.random.default_rng(0)
    resampled = [np.linalg.lstsq(with_level[i], y[i], rcond=None)[0][2]
                 for i in (rng.integers(0, len(y), len(y)) for _ in range(2000))]
    low, high = np.exp(np.percentile(resampled, [2.5, 97.5]))
    return (f"{strategies[1]}'s late gain over {strategies[0]}'s ({len(y)} runs): {math.exp(without):.3f}x; "
            f"with the level at {budget // 2} {math.exp(fit[2]):.3f}x (95% {low:.3f}-{high:.3f}); "
            f"gain per level: slope {fit[1]:.2f} (log gain per log level)")


if __name__ == "__main__":
    main()
