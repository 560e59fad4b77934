"""Paired comparison, seed by seed, of the runs in ``live_simulated.py`` result files (one budget), or
of the re-timed live runs in a ``live_retime.py`` file.

    .venv/bin/python benchmarks/scripts/sim_paired.py sim_a_256.json sim_b_256.json \
        --pair arco:arco_noagents --checkpoints 64,128,256 --out paired.json

Runs of one label may be spread over several files (``--first-seed``); they are paired by seed. For
each pair and checkpoint: in how many seeds the first label's best is above the second's, the
two-sided sign test over the seeds that differ, the geometric mean of the ratios; and both labels'
median trials to 95% (``--level 99``: 99%) of the simulated optimum (never = budget + 1). Of a
``live_retime.py`` file: each run's re-timed best at the checkpoints it kept, and its trials to 95% of the
fastest re-timed config.
"""
import argparse
import json
import sys

import numpy as np
from scipy.stats import binomtest  # scipy comes with xgboost

from tvm_arco_plugin.bench import best_steps, curve_of_steps, plot_curves


def runs_by_label(paths, level="trials_to_95"):
    """label -> {seed: (best-so-far curve in GFLOP/s or None, {trial: best GFLOP/s}, trials to ``level`` or
    None)}; the files' optimum (of re-timed live runs: the fastest re-timed config)."""
    runs, optimum = {}, None

    def same_optimum(path, value):
        if optimum is not None and abs(value - optimum) > 1e-6 * optimum:
            raise SystemExit(f"{path}: optimum {value} differs from {optimum}: not the same landscape or re-timing")
        return value

    for path in paths:
        with open(path, encoding="utf-8") as handle:
            out = json.load(handle)
        if "best_retimed_gflops" in out:  # live_retime.py
            if level != "trials_to_95":
                raise SystemExit(f"{path}: re-timed live runs count trials to 95% only")
            optimum = same_optimum(path, out["best_retimed_gflops"])
            for row in out["runs"]:
                at = {int(c): v["retimed_gflops"] for c, v in row["checkpoints"].items()}
                runs.setdefault(row["tuner"], {})[row["seed"]] = (None, at, row["trials_to_95_of_best_retimed"])
            continue
        for task in out["tasks"]:
            optimum = same_optimum(path, task["optimum_gflops"])
            for label, stats in task["tuners"].items():
                for k, (steps, trials) in enumerate(zip(stats["best_steps"], stats[level])):
                    curve = curve_of_steps(steps)
                    at = {point: curve[point - 1] for point in range(1, len(curve) + 1)}
                    runs.setdefault(label, {})[task.get("first_seed", 0) + k] = (curve, at, trials)
    return runs, optimum


def sign_p(above, below):
    """Two-sided sign test (as ms_paired.py computes it)."""
    return binomtest(above, above + below).pvalue if above + below else 1.0


def compare(first, second, checkpoints, budget):
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise SystemExit("no seed in common")
    out = {"seeds": seeds, "checkpoints": {}}
    for point in checkpoints:
        a = np.array([first[s][1][point] for s in seeds])
        b = np.array([second[s][1][point] for s in seeds])
        above, below = int((a > b).sum()), int((a < b).sum())
        out["checkpoints"][point] = {"above": above, "below": below, "p": round(sign_p(above, below), 4),
                                     "geomean_ratio": round(float(np.exp(np.mean(np.log(a / b)))), 4)}
    never = budget + 1
    for name, runs in (("first", first), ("second", second)):
        trials = [runs[s][2] if runs[s][2] is not None else never for s in seeds]
        out[f"{name}_median_trials"] = float(np.median(trials))
        out[f"{name}_never"] = sum(t == never for t in trials)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--pair", action="append", required=True,
                        help="FIRST:SECOND labels (repeat for more pairs; labels may hold commas)")
    parser.add_argument("--checkpoints", default="64,128,256")
    parser.add_argument("--level", default="95", choices=("95", "99"), help="trials to this %% of the optimum")
    parser.add_argument("--out")
    parser.add_argument("--plot", help="best-so-far curves of every label in the files (median, quartiles)")
    args = parser.parse_args(argv)
    runs, optimum = runs_by_label(args.results, f"trials_to_{args.level}")
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    report = {"optimum_gflops": optimum, "level": int(args.level), "pairs": {}}
    for pair in args.pair:
        first, _, second = pair.partition(":")
        missing = [label for label in (first, second) if label not in runs]
        if missing:
            raise SystemExit(f"--pair {pair}: no runs labelled {missing}; found {sorted(runs)}")
        result = compare(runs[first], runs[second], checkpoints, checkpoints[-1])
        report["pairs"][pair] = result
        cells = "; ".join(f"at {p}: above in {c['above']}, below in {c['below']} of {len(result['seeds'])}, "
                          f"{c['geomean_ratio']:.3f}x, "
                          f"p = {c['p']:.3f}" for p, c in result["checkpoints"].items())
        print(f"{first} against {second}: {cells}; median trials to {args.level}% {result['first_median_trials']:g} / "
              f"{result['second_median_trials']:g} (never {result['first_never']} / {result['second_never']})")
    if args.plot:
        labels = {label: {"best_steps": [best_steps(1e9 * by_seed[s][0]) for s in sorted(by_seed)]}
                  for label, by_seed in runs.items() if all(run[0] is not None for run in by_seed.values())}
        plot_curves({"tasks": [{"task": f"simulated landscape, {len(labels)} variants", "optimum_gflops": optimum,
                                "tuners": labels}]}, args.plot)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
