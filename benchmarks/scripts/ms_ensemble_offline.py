"""Would an ensemble's disagreement pick better schedules than one model? An offline check, no building or running.

    .venv-ms/bin/python benchmarks/scripts/ms_ensemble_offline.py benchmarks/priors_rocketlake/resnet18_conv2d_14 \\
        benchmarks/priors_rocketlake/resnet18_conv2d_28 benchmarks/priors_rocketlake/resnet18_conv2d_56 \\
        --out benchmarks/results/ms_ensemble_offline_rocketlake.json

Per workload database (measured random schedules of one workload) and per number n of them taken as measured
(16, 32, 64; drawn at random, ``--splits`` times): the best of the 16 schedules each ranking puts first among
the others, as a share of the workload's fastest record. Rankings: one ``XGBModel`` trained on the n (ARCO's
early model), the mean of ``--members`` models each trained on a bootstrap resample of the n, that mean plus
``beta`` times the members' spread (an upper confidence bound, beta 0.5, 1, 2), and 16 drawn at random. Each
member's predictions are standardised over the ranked schedules before they are combined, since XGBModel's
scores are normalised by the best of its own training data.
"""
import argparse
import json

import numpy as np

from tvm_arco_plugin.metaschedule._tvm import require_metaschedule
from tvm_arco_plugin.metaschedule.prior import _context, one_workloads_records
from tvm_arco_plugin.metaschedule.strategy import seeded_xgb_model
from tvm_arco_plugin.metaschedule.workloads import default_target

TOP = 16
BETAS = (0.5, 1.0, 2.0)


def best_of_top(speed, scores):
    return float(speed[np.argsort(-scores, kind="stable")[:TOP]].max())


def evaluate(work_dir, sizes, splits, members, target, ms):
    mod, candidates, results, speed = one_workloads_records(ms, work_dir)
    context = _context(ms, mod, target)
    rows = []
    for n in sizes:
        picks = {"single": [], "ensemble_mean": [], "random": [], **{f"ucb_{b}": [] for b in BETAS}}
        for split in range(splits):
            rng = np.random.default_rng(1000 * n + split)
            measured = rng.choice(len(candidates), n, replace=False)
            rest = np.setdiff1d(np.arange(len(candidates)), measured)
            single = seeded_xgb_model(split)
            single.update(context, [candidates[i] for i in measured], [results[i] for i in measured])
            # Features of the ranked schedules once, for every model: extracting them is the costly part.
            features = [x.numpy().astype("float32")
                        for x in single.extractor.extract_from(context, [candidates[i] for i in rest])]
            picks["single"].append(best_of_top(speed[rest], np.asarray(single._predict(features))))
            standardised = []
            for member in range(members):
                resample = np.unique(rng.choice(measured, n, replace=True))
                model = seeded_xgb_model(100 * split + member)
                model.update(context, [candidates[i] for i in resample], [results[i] for i in resample])
                predicted = np.asarray(model._predict(features), dtype=np.float64)
                standardised.append((predicted - predicted.mean()) / (predicted.std() + 1e-12))
            mean, spread = np.mean(standardised, axis=0), np.std(standardised, axis=0)
            picks["ensemble_mean"].append(best_of_top(speed[rest], mean))
            for beta in BETAS:
                picks[f"ucb_{beta}"].append(best_of_top(speed[rest], mean + beta * spread))
            picks["random"].append(float(speed[rest][rng.choice(len(rest), TOP, replace=False)].max()))
        row = {"measured": n, **{name: round(float(np.mean(v)), 4) for name, v in picks.items()}}
        print(work_dir, row, flush=True)
        rows.append(row)
    return {"records": len(candidates), "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dirs", nargs="+", help="MetaSchedule JSON databases, one workload each")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    _, ms = require_metaschedule()
    target = default_target()
    result = {"splits": args.splits, "members": args.members, "top": TOP,
              "workloads": {w: evaluate(w, (16, 32, 64), args.splits, args.members, target, ms) for w in args.work_dirs}}
    names = [k for k in result["workloads"][args.work_dirs[0]]["rows"][0] if k != "measured"]
    cells = [row for w in result["workloads"].values() for row in w["rows"]]
    result["mean_over_cells"] = {name: round(float(np.mean([row[name] for row in cells])), 4) for name in names}
    print(json.dumps(result["mean_over_cells"]))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
