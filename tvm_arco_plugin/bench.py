"""Benchmarks: record full search spaces, then replay every tuner on them deterministically.

    python -m tvm_arco_plugin.bench record --network resnet18 --tasks 0,1 --out-dir benchmarks/spaces
    python -m tvm_arco_plugin.bench record --template arco/matmul_large --args 128,128,128 --out-dir ...
    python -m tvm_arco_plugin.bench replay LOG [LOG ...] --tuners arco,xgb,xgb8,ga,random,gridsearch,droplet \
        --budget 64 --seeds 10 --out results.json [--plot curves.png] [--import my_templates.py]
"""
import argparse
import importlib.util
import json
import os
import random
import sys

os.environ.setdefault("TOPHUB_LOCATION", "NONE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tvm import autotvm, relay  # noqa: E402
from tvm.relay import testing  # noqa: E402

from . import ARCOTuner, host_target, templates  # noqa: E402,F401  (templates: registers arco/*)
from .recording import record_space  # noqa: E402
from .replay import RecordedResults, replay_option  # noqa: E402
from .timing import time_in_tuner  # noqa: E402

TUNERS = {
    "arco": lambda task, seed: ARCOTuner(task, seed=seed),
    "xgb": lambda task, seed: autotvm.tuner.XGBTuner(task),
    "xgb8": lambda task, seed: autotvm.tuner.XGBTuner(task, plan_size=8),
    "ga": lambda task, seed: autotvm.tuner.GATuner(task),
    "random": lambda task, seed: autotvm.tuner.RandomTuner(task),
    "gridsearch": lambda task, seed: autotvm.tuner.GridSearchTuner(task),
    "droplet": lambda task, seed: autotvm.tuner.DropletTuner(task),
}
NETWORKS = {
    "resnet18": lambda: testing.resnet.get_workload(num_layers=18, batch_size=1),
    "vgg16": lambda: testing.vgg.get_workload(num_layers=16, batch_size=1),
}


# ---- record -------------------------------------------------------------------------------------
def network_tasks(network, target):
    mod, params = NETWORKS[network]()
    ops = (relay.op.get("nn.conv2d"), relay.op.get("nn.dense"))
    return autotvm.task.extract_from_program(mod["main"], target=target, params=params, ops=ops)


def task_file_name(task):
    text = f"{task.name}_{task.args}"
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[:120] + ".log"


def cmd_record(args):
    target = host_target()
    if args.template:
        shape = tuple(int(x) for x in args.args.split(",")) + ("float32",)
        tasks = [autotvm.task.create(args.template, args=shape, target=target)]
    else:
        every = network_tasks(args.network, target)
        tasks = [every[int(i)] for i in args.tasks.split(",")] if args.tasks else every
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=30),
        runner=autotvm.LocalRunner(number=args.number, repeat=args.repeat, min_repeat_ms=args.min_repeat_ms,
                                   timeout=30),
    )
    os.makedirs(args.out_dir, exist_ok=True)
    for task in tasks:
        path = os.path.join(args.out_dir, task_file_name(task))
        print(f"recording {task.name} {task.args}: {len(task.config_space)} configs -> {path}", flush=True)
        record_space(task, path, option)
    return 0


# ---- replay -------------------------------------------------------------------------------------
def import_file(path):
    """Import a user's Python file as a module (its __main__ block does not run) to register templates."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def load_recorded_space(path):
    recorded = RecordedResults.from_log(path)
    try:
        task = autotvm.task.create(recorded.task_name, args=recorded.task_args, target=recorded.target)
    except Exception as err:  # pylint: disable=broad-except
        raise SystemExit(f"{path}: cannot re-create task {recorded.task_name}: {err} "
                         f"(a template of your own needs --import FILE.py)") from err
    missing = recorded.missing(task.config_space)
    if missing:
        raise SystemExit(f"{path}: {len(missing)} of {len(task.config_space)} configs of {recorded.task_name} are "
                         f"not in the log (e.g. index {missing[0]}); replay needs a fully recorded space")
    flops = {i: (task.flop / np.mean(r.costs) if r.error_no == 0 else 0.0) for i, r in recorded.results.items()}
    return task, recorded, flops


def trials_to(curve, level):
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return int(hits[0]) + 1 if len(hits) else None


def replay_one(task, recorded, flops, tuner_name, budget, seed, batch):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    tuner = TUNERS[tuner_name](task, seed)
    option = replay_option(recorded, n_parallel=batch)
    with time_in_tuner(tuner) as clock:
        tuner.tune(n_trial=min(budget, len(task.config_space)), measure_option=option)
    measured = [flops.get(i, 0.0) for i in option["runner"].requests]
    return np.maximum.accumulate(measured) if measured else np.zeros(0), clock.seconds


def cmd_replay(args):
    for path in args.import_files or ():
        import_file(path)
    names = args.tuners.split(",")
    unknown = [n for n in names if n not in TUNERS]
    if unknown:
        raise SystemExit(f"unknown tuner(s) {unknown}; available: {','.join(TUNERS)}")
    out = {"budget": args.budget, "seeds": args.seeds, "batch": args.batch, "tasks": []}
    curves = {}
    for path in args.logs:
        task, recorded, flops = load_recorded_space(path)
        optimum = max(flops.values())
        entry = {"log": path, "task": f"{task.name} {task.args}", "space_size": len(task.config_space),
                 "optimum_gflops": optimum / 1e9, "tuners": {}}
        for name in names:
            stats = {"best_gflops": [], "trials_to_95": [], "trials_to_99": [], "search_seconds": []}
            for seed in range(args.seeds):
                curve, seconds = replay_one(task, recorded, flops, name, args.budget, seed, args.batch)
                curves.setdefault(path, {}).setdefault(name, []).append(curve / 1e9)
                stats["best_gflops"].append(float(curve[-1] / 1e9) if len(curve) else 0.0)
                stats["trials_to_95"].append(trials_to(curve, 0.95 * optimum))
                stats["trials_to_99"].append(trials_to(curve, 0.99 * optimum))
                stats["search_seconds"].append(seconds)
            entry["tuners"][name] = stats
            t95 = [t for t in stats["trials_to_95"] if t is not None]
            print(f"{os.path.basename(path)[:50]:50s} {name:10s} best {np.median(stats['best_gflops']):8.2f} GFLOPS "
                  f"(opt {optimum / 1e9:.2f})  median trials to 95%: "
                  f"{np.median(t95) if len(t95) == args.seeds else 'n/a':>5}  "
                  f"search s/trial {np.sum(stats['search_seconds']) / (args.seeds * args.budget):.4f}", flush=True)
        out["tasks"].append(entry)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    if args.plot:
        plot_curves(curves, out, args.plot)
    return 0


def plot_curves(curves, out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = out["tasks"]
    cols = min(3, len(tasks))
    rows = (len(tasks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, entry in zip(axes.flat, tasks):
        for name, runs in curves[entry["log"]].items():
            length = max(len(r) for r in runs)
            padded = np.array([np.pad(r, (0, length - len(r)), mode="edge") for r in runs])
            x = np.arange(1, length + 1)
            ax.plot(x, np.median(padded, axis=0), label=name)
            ax.fill_between(x, np.percentile(padded, 25, axis=0), np.percentile(padded, 75, axis=0), alpha=0.2)
        ax.axhline(entry["optimum_gflops"], color="k", lw=0.8, ls="--")
        ax.set_title(entry["task"][:60], fontsize=7)
        ax.set_xlabel("trials")
        ax.set_ylabel("best GFLOPS so far")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tvm_arco_plugin.bench")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="measure every config of tasks into AutoTVM logs (resumable)")
    rec.add_argument("--network", choices=sorted(NETWORKS), default="resnet18")
    rec.add_argument("--tasks", help="comma-separated task indexes of the network (default: all)")
    rec.add_argument("--template", help="an AutoTVM template name instead of a network, e.g. arco/matmul_large")
    rec.add_argument("--args", default="128,128,128", help="template shape arguments (with --template)")
    rec.add_argument("--out-dir", default="benchmarks/spaces")
    rec.add_argument("--number", type=int, default=5)
    rec.add_argument("--repeat", type=int, default=1)
    rec.add_argument("--min-repeat-ms", type=int, default=20)
    rep = sub.add_parser("replay", help="replay tuners on fully recorded spaces")
    rep.add_argument("logs", nargs="+")
    rep.add_argument("--tuners", default="arco,xgb,xgb8,ga,random")
    rep.add_argument("--budget", type=int, default=64)
    rep.add_argument("--seeds", type=int, default=3)
    rep.add_argument("--batch", type=int, default=8, help="measurements per tune() batch (builder n_parallel)")
    rep.add_argument("--out", default="results.json")
    rep.add_argument("--plot")
    rep.add_argument("--import", dest="import_files", action="append", metavar="FILE.py")
    args = parser.parse_args(argv)
    return cmd_record(args) if args.command == "record" else cmd_replay(args)


if __name__ == "__main__":
    sys.exit(main())
