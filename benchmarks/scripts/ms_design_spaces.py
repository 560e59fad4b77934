"""Which design spaces a MetaSchedule benchmark run measured (``bench --out`` files written since 2026-12-04,
which record each measured config's design space): per run, how many configs of each trial window came
from each design space, and the design space of the run's best at each checkpoint.

    .venv-ms/bin/python benchmarks/scripts/ms_design_spaces.py benchmarks/results/ms_bench256_spaces_rocketlake.json \
       --windows 64,128,256

Per strategy, the summary is the mean share of the last window's configs that came from the design space
holding the run's best at the budget: how much the late search stayed where the best was.
"""
import argparse
import json

from tvm_arco_plugin.metaschedule.space import design_space_labels


def best_trial(run, checkpoint):
    """Index of the trial whose result is the run's best after ``checkpoint`` trials (None: nothing worked)."""
    curve = run["best_gflops_curve"][:checkpoint]
    if not curve or curve[-1] <= 0:
        return None
    return next(i for i, v in enumerate(curve) if v == curve[-1])


def window_counts(run, windows):
    """Per window (trials after the previous bound up to this one), configs measured in each design space;
    the last column counts configs of no design space (-1)."""
    spaces, counts, start = run["design_space_per_trial"], [], 0
    for end in windows:
        part = spaces[start:end]
        counts.append([part.count(i) for i in range(len(run["design_spaces"]))] + [part.count(-1)])
        start = end
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--strategies", help="comma-separated; default every strategy in the file")
    parser.add_argument("--windows", default="64,128,256", help="upper bounds of the trial windows")
    args = parser.parse_args(argv)

    windows = [int(w) for w in args.windows.split(",")]
    runs = [r for r in json.load(open(args.file))["runs"] if "design_space_per_trial" in r]
    strategies = args.strategies.split(",") if args.strategies else sorted({r["strategy"] for r in runs})
    shown = set()
    late_share = {s: [] for s in strategies}
    for run in sorted(runs, key=lambda r: (r["workload"], r["seed"], strategies.index(r["strategy"])
                                            if r["strategy"] in strategies else -1)):
        if run["strategy"] not in strategies:
            continue
        if run["workload"] not in shown:
            shown.add(run["workload"])
            labels = design_space_labels([label.split("; ") for label in run["design_spaces"]])
            print(f"{run['workload']}: design spaces " + ", ".join(f"s{i}: {label}" for i, label in enumerate(labels)))
        counts = window_counts(run, windows)
        bests = {w: best_trial(run, w) for w in windows}
        space_of = {w: None if t is None else run["design_space_per_trial"][t] for w, t in bests.items()}
        final = space_of[windows[-1]]
        if final is not None and final >= 0 and sum(counts[-1]):
            late_share[run["strategy"]].append(counts[-1][final] / sum(counts[-1]))
        cells = []
        start = 0
        for end, row in zip(windows, counts):
            extra = f" +{row[-1]} of none" if row[-1] else ""
            cells.append(f"{start + 1}-{end}: " + "/".join(map(str, row[:-1])) + extra)
            start = end
        print(f"  {run['strategy']:<18} seed {run['seed']}: best in " +
              ", ".join(f"@{w} s{s}" for w, s in space_of.items()) + "; measured per space " + ", ".join(cells))
    for strategy, shares in late_share.items():
        if shares:
            print(f"{strategy}: share of trials {windows[-2] + 1 if len(windows) > 1 else 1}-{windows[-1]} in the "
                  f"design space of the run's best at {windows[-1]}: mean {sum(shares) / len(shares):.2f} over "
                  f"{len(shares)} runs ({', '.join(f'{s:.2f}' for s in shares)})")


if __name__ == "__main__":
    main()
