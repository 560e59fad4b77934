"""Paired comparison of two tuners on the ZigZag joint spaces, layer by layer and seed by seed, from
``codesign.single_layer`` result files of one budget (a layer's seeds may be spread over several files,
``--first-seed``).

    .venv/bin/python benchmarks/scripts/zigzag_paired.py benchmarks/results/zigzag_c8_seeds5to14_1000.json \
        benchmarks/results/zigzag_c5_seeds5to14_1000.json --pair arco:arco_noagents --out paired.json

The evaluations are deterministic (ZigZag's analytical model), so the seeds are the only variation.
For each pair of runs (same layer, same seed): trials to 95% of the layer's sub-space optimum (never =
budget + 1). Reported per layer and over all pairs: in how many pairs the first tuner needed fewer
trials, more, the same; the two-sided sign test over the pairs that differ; the geometric mean of the
ratios first / second; the median ratio per layer; and how many runs ended within 2% of the optimum.
The best at the budget is compared the same way (first higher / lower / tied, ties within 0.1%), because
a tuner can reach 95% sooner and still end lower.
"""
import argparse
import json
import sys

import numpy as np
from scipy.stats import binomtest  # scipy comes with xgboost


def runs_by_layer(paths):
    """layer -> tuner -> {seed: (trials to 95% or None, best GFLOP/s)}; layer -> optimum GFLOP/s; budget."""
    runs, optima, budget = {}, {}, None
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            out = json.load(handle)
        if budget is not None and out["budget"] != budget:
            raise SystemExit(f"{path}: budget {out['budget']}, the other files {budget}")
        budget = out["budget"]
        for task in out["tasks"]:
            layer = task["task"]
            optima[layer] = task["optimum_gflops"]
            for tuner, stats in task["tuners"].items():
                by_seed = runs.setdefault(layer, {}).setdefault(tuner, {})
                for k, (trials, best) in enumerate(zip(stats["trials_to_95"], stats["best_gflops"])):
                    seed = task.get("first_seed", 0) + k
                    if seed in by_seed:
                        raise SystemExit(f"{path}: {layer} {tuner} seed {seed} appears twice")
                    by_seed[seed] = (trials, best)
    return runs, optima, budget


def counts(first, second, tolerance=0.0):
    """Pairs where first is lower / higher than second (beyond ``tolerance``, relative), the two-sided sign
    test over the pairs that differ, and the geometric mean of first / second."""
    ratio = first / second
    lower, higher = int((ratio < 1 - tolerance).sum()), int((ratio > 1 + tolerance).sum())
    return {"lower": lower, "higher": higher, "tied": int(len(ratio) - lower - higher),
            "p": round(binomtest(lower, lower + higher).pvalue, 4) if lower + higher else 1.0,
            "geomean_ratio": round(float(np.exp(np.mean(np.log(ratio)))), 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--pair", required=True, help="FIRST:SECOND tuner labels")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    first_label, _, second_label = args.pair.partition(":")
    runs, optima, budget = runs_by_layer(args.results)
    never = budget + 1
    report = {"budget": budget, "pair": args.pair, "layers": {}}
    all_first, all_second, all_best_first, all_best_second = [], [], [], []
    for layer, tuners in runs.items():
        if first_label not in tuners or second_label not in tuners:
            raise SystemExit(f"{layer}: needs runs of both {first_label} and {second_label}; found {sorted(tuners)}")
        seeds = sorted(set(tuners[first_label]) & set(tuners[second_label]))
        first = np.array([tuners[first_label][s][0] or never for s in seeds], dtype=float)
        second = np.array([tuners[second_label][s][0] or never for s in seeds], dtype=float)
        best_first = np.array([tuners[first_label][s][1] for s in seeds], dtype=float)
        best_second = np.array([tuners[second_label][s][1] for s in seeds], dtype=float)
        within = {label: sum(tuners[label][s][1] >= 0.98 * optima[layer] for s in seeds)
                  for label in (first_label, second_label)}
        row = {"seeds": seeds, "trials_to_95": {first_label: first.tolist(), second_label: second.tolist()},
               "median_trials": {first_label: float(np.median(first)), second_label: float(np.median(second))},
               "median_ratio": round(float(np.median(first / second)), 4), "within_2pct": within,
               **counts(first, second), "best_at_budget": counts(best_first, best_second, tolerance=1e-3)}
        report["layers"][layer] = row
        all_first.extend(first)
        all_second.extend(second)
        all_best_first.extend(best_first)
        all_best_second.extend(best_second)
        print(f"{layer}: seeds {seeds[0]}-{seeds[-1]}, median trials to 95% {row['median_trials'][first_label]:g} / "
              f"{row['median_trials'][second_label]:g}, fewer in {row['lower']}, more in {row['higher']}, tied "
              f"{row['tied']}, geomean {row['geomean_ratio']:.3f}x, median ratio {row['median_ratio']:.3f}x; "
              f"within 2% at {budget}: {within[first_label]} / {within[second_label]} of {len(seeds)}; best at {budget} "
              f"higher in {row['best_at_budget']['higher']}, lower in {row['best_at_budget']['lower']}")
    report["all"] = counts(np.array(all_first), np.array(all_second))
    report["all"]["pairs"] = len(all_first)
    report["all"]["best_at_budget"] = counts(np.array(all_best_first), np.array(all_best_second), tolerance=1e-3)
    overall = report["all"]
    print(f"all {overall['pairs']} pairs: {first_label} fewer trials in {overall['lower']}, more in {overall['higher']}, "
          f"tied {overall['tied']} (sign p = {overall['p']:.3f}); geometric mean {first_label} / {second_label} "
          f"{overall['geomean_ratio']:.3f}x; best at {budget} higher in {overall['best_at_budget']['higher']}, lower in "
          f"{overall['best_at_budget']['lower']}, tied {overall['best_at_budget']['tied']} (sign p = "
          f"{overall['best_at_budget']['p']:.3f}, {overall['best_at_budget']['geomean_ratio']:.3f}x)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
