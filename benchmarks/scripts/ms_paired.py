"""Paired comparisons of two strategies in MetaSchedule benchmark files (``bench --out``): for every
workload and seed both ran, the best at a checkpoint as recorded (best single timing, or mean of the
runner's repeats) and, with ``--retime``, the re-timed speed of that recorded best (``top1``).
Network files (``network --out``) compare speeds too: inferences per second of the network's tasks,
1 / weighted latency, after ``checkpoint`` trials per task, and re-timed at the whole budget.

    .venv-ms/bin/python benchmarks/scripts/ms_paired.py benchmarks/results/ms_retime64_repeat3_4w_znver3.json \
       --pairs arco:evolutionary,arco:arco_noagents,arco_noagents:evolutionary --checkpoints 32,64 --out paired.json

Per pair, checkpoint and measure: runs above / equal / below, the geometric mean of the ratios, and a
two-sided sign test over the runs that differ (ties left out). Runs of one seed on different workloads
count as separate pairs; the sign test treats them as independent.
"""
import argparse
import json
import math

from scipy.stats import binomtest

from tvm_arco_plugin.metaschedule.network import latency_at


def speeds(run, checkpoint):
    """{"recorded": ..., "retimed": ...} GFLOP/s at ``checkpoint`` trials (retimed only if the run has it);
    for a network run, inferences per second after ``checkpoint`` trials per task (none while undefined)."""
    if "weighted_latency_curve" in run:
        return network_speeds(run, checkpoint)
    out = {"recorded": max(run["best_gflops_curve"][:checkpoint])}
    retimed = run.get("retimed", {}).get("gflops", {}).get(str(checkpoint))
    if retimed:
        out["retimed"] = retimed["top1"]
    return out


def network_speeds(run, checkpoint):
    out = {}
    latency = latency_at(run, checkpoint * len(run["tasks"]))
    if latency is not None:
        out["recorded"] = 1.0 / latency
    if checkpoint == run["trials_per_task"] and run.get("retimed_weighted_latency"):
        out["retimed"] = 1.0 / run["retimed_weighted_latency"]
    return out


def compare(runs, a, b, checkpoint):
    by_key = {(r.get("workload", r.get("network")), r["seed"], r["strategy"]): r for r in runs}
    rows = []
    for (workload, seed, strategy), run in sorted(by_key.items()):
        other = by_key.get((workload, seed, b))
        if strategy == a and other is not None:
            rows.append({"workload": workload, "seed": seed, a: speeds(run, checkpoint), b: speeds(other, checkpoint)})
    verdict = {}
    for measure in ("recorded", "retimed"):
        usable = [row for row in rows if measure in row[a] and measure in row[b]]
        if not usable:
            continue
        pairs = [(row[a][measure], row[b][measure]) for row in usable]
        above = sum(x > y for x, y in pairs)
        below = sum(x < y for x, y in pairs)
        verdict[measure] = {
            "pairs": len(pairs), "above": above, "equal": len(pairs) - above - below, "below": below,
            "geomean_ratio": math.exp(sum(math.log(x / y) for x, y in pairs) / len(pairs)),
            "sign_test_p": binomtest(above, above + below).pvalue if above + below else 1.0,
            "mean": {a: sum(x for x, _ in pairs) / len(pairs), b: sum(y for _, y in pairs) / len(pairs)},
            "per_workload_mean_ratio": per_workload(usable, a, b, measure)}
    return {"a": a, "b": b, "checkpoint": checkpoint, "rows": rows, **verdict}


def per_workload(rows, a, b, measure):
    """{workload: sum of a's speeds / sum of b's} over ``rows`` that all have ``measure``."""
    out = {}
    for workload in sorted({row["workload"] for row in rows}):
        mine = [row for row in rows if row["workload"] == workload]
        out[workload] = sum(r[a][measure] for r in mine) / sum(r[b][measure] for r in mine)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--pairs", default="arco:evolutionary,arco:arco_noagents")
    parser.add_argument("--checkpoints", default="64")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    runs = []
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            runs += json.load(f)["runs"]
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    if any(len(p) != 2 for p in pairs):
        parser.error(f"--pairs takes A:B,C:D, got {args.pairs!r}")
    results = [compare(runs, a, b, int(c)) for a, b in pairs for c in args.checkpoints.split(",")]
    for result in results:
        for measure in ("recorded", "retimed"):
            if measure in result:
                v = result[measure]
                print(f"{result['a']} vs {result['b']} at {result['checkpoint']}, {measure}: above {v['above']}, "
                      f"equal {v['equal']}, below {v['below']} of {v['pairs']}; geomean {v['geomean_ratio']:.3f}x; "
                      f"sign test p = {v['sign_test_p']:.3f}; per workload "
                      + ", ".join(f"{w} {x:.2f}x" for w, x in v["per_workload_mean_ratio"].items()))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"files": args.files, "comparisons": results}, f, indent=1)


if __name__ == "__main__":
    main()
