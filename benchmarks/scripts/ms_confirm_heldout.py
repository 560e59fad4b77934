"""What confirming the best (tvm_arco_plugin/metaschedule/confirm.py) gains, on timings it did not use.

    .venv-ms/bin/python benchmarks/scripts/ms_confirm_heldout.py benchmarks/results/ms_retime64_znver3.json \\
        benchmarks/results/ms_retime64_repeat3_znver3.json --select-rounds 3 --out benchmarks/results/ms_confirm_heldout_znver3.json

Reads benchmark files made with ``bench --retime R`` (R > ``--select-rounds``): every run kept, per
checkpoint, its fastest recorded schedules and timed each in R rounds. For each run and checkpoint it
does what ``confirm`` does with the first ``--select-rounds`` rounds (picks the schedule with the
lowest mean run time) and then compares the pick with the recorded best, the schedule ``compile_tir``
deploys without confirming, on the remaining rounds only (median GFLOP/s of each). Choosing and judging
on the same timings would flatter the pick; here the judging timings are fresh.
"""
import argparse
import json
import sys

import numpy as np


def heldout(run, select_rounds):
    """[(checkpoint, pick differs from the recorded best, pick's / recorded best's held-out median GFLOP/s)];
    a checkpoint that kept the same schedules as an earlier one is the same case, counted once."""
    timings = run["retimed"]["timings"]
    rows, seen = [], set()
    for checkpoint, chosen in sorted(run["kept"]["chosen"].items(), key=lambda kv: int(kv[0])):
        if tuple(chosen) in seen:
            continue
        seen.add(tuple(chosen))
        series = [np.asarray(timings[str(trial)], dtype=float) for trial in chosen]
        if not series or any((s <= 0).any() for s in series):
            continue  # a failed timing: left out rather than guessed
        mean_seconds = [np.mean(1 / s[:select_rounds]) for s in series]
        pick = int(np.argmin(mean_seconds))
        judged = [float(np.median(s[select_rounds:])) for s in series]
        rows.append((int(checkpoint), pick != 0, judged[pick] / judged[0]))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="bench results files made with --retime")
    parser.add_argument("--select-rounds", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = {"select_rounds": args.select_rounds, "files": args.files, "runs": []}
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            runs = [r for r in json.load(f)["runs"] if r.get("retimed")]
        for run in runs:
            if run["retimed"]["rounds"] <= args.select_rounds:
                parser.error(f"{path}: its runs were re-timed in {run['retimed']['rounds']} rounds; "
                             f"--select-rounds must leave at least one")
            for checkpoint, changed, ratio in heldout(run, args.select_rounds):
                result["runs"].append({"file": path, "workload": run["workload"], "strategy": run["strategy"],
                                       "seed": run["seed"], "checkpoint": checkpoint, "changed": changed,
                                       "heldout_ratio": ratio})
    if not result["runs"]:
        parser.error("no run with re-timed schedules in these files")
    changed = [r["heldout_ratio"] for r in result["runs"] if r["changed"]]
    result["summary"] = {"cases": len(result["runs"]), "changed": len(changed),
                         "geomean_ratio_all": float(np.exp(np.mean(np.log([r["heldout_ratio"] for r in result["runs"]])))),
                         "geomean_ratio_changed": float(np.exp(np.mean(np.log(changed)))) if changed else None,
                         "changed_faster": sum(r > 1 for r in changed),
                         "ratio_range_changed": [min(changed), max(changed)] if changed else None}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    for r in result["runs"]:
        print(f"{r['file'].split('/')[-1]:<34} {r['strategy']:<13} seed {r['seed']} at {r['checkpoint']:>3}: "
              + (f"pick changed, held-out {r['heldout_ratio']:.2f}x" if r["changed"] else "recorded best kept"))
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
