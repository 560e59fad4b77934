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

from tvm_arco_plugin.metaschedule.bench import best_at, trials_to_reach
from tvm_arco_plugin.metaschedule.space import design_space_labels


def best_space(run, checkpoint):
    """The design space of the run's best after ``checkpoint`` trials (None: nothing worked)."""
    best = best_at(run, checkpoint)
    if best <= 0:
        return None
    return run["design_space_per_trial"][trials_to_reach(run, best, within=checkpoint) - 1]


def window_counts(run, bounds):
    """Per window (``bounds``: (start, end) trials), configs measured in each design space; the last column
    counts configs of no design space (-1)."""
    spaces = run["design_space_per_trial"]
    return [[spaces[start:end].count(i) for i in list(range(len(run["design_spaces"]))) + [-1]]
            for start, end in bounds]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--strategies", help="comma-separated; default every strategy in the file")
    parser.add_argument("--windows", default="64,128,256", help="upper bounds of the trial windows")
    args = parser.parse_args(argv)

    windows = [int(w) for w in args.windows.split(",")]
    bounds = list(zip([0] + windows, windows))
    runs = [r for r in json.load(open(args.file))["runs"] if "design_space_per_trial" in r]
    strategies = args.strategies.split(",") if args.strategies else sorted({r["strategy"] for r in runs})
    runs = [r for r in runs if r["strategy"] in strategies]
    shown = set()
    late_share = {s: [] for s in strategies}
    for run in sorted(runs, key=lambda r: (r["workload"], r["seed"], strategies.index(r["strategy"]))):
        if run["workload"] not in shown:
            shown.add(run["workload"])
            labels = design_space_labels([label.split("; ") for label in run["design_spaces"]])
            print(f"{run['workload']}: design spaces " + ", ".join(f"s{i}: {label}" for i, label in enumerate(labels)))
        counts = window_counts(run, bounds)
        space_of = {w: best_space(run, w) for w in windows}
        final = space_of[windows[-1]]
        if final is not None and final >= 0 and sum(counts[-1]):
            late_share[run["strategy"]].append(counts[-1][final] / sum(counts[-1]))
        cells = [f"{start + 1}-{end}: " + "/".join(map(str, row[:-1])) + (f" +{row[-1]} of none" if row[-1] else "")
                 for (start, end), row in zip(bounds, counts)]
        print(f"  {run['strategy']:<18} seed {run['seed']}: best in " +
              ", ".join(f"@{w} s{s}" for w, s in space_of.items()) + "; measured per space " + ", ".join(cells))
    for strategy, shares in late_share.items():
        if shares:
            print(f"{strategy}: share of trials {windows[-2] + 1 if len(windows) > 1 else 1}-{windows[-1]} in the "
                  f"design space of the run's best at {windows[-1]}: mean {sum(shares) / len(shares):.2f} over "
                  f"{len(shares)} runs ({', '.join(f'{s:.2f}' for s in shares)})")


if __name__ == "__main__":
    main()
