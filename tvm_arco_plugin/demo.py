"""`make demo`: ARCOTuner against XGBTuner on ResNet-18 conv2d tasks of this CPU, then the network.

    python -m tvm_arco_plugin.demo [--tasks 3] [--trials 48] [--seed 0] [--out out/demo]

Tunes the first ``--tasks`` distinct conv2d tasks of ResNet-18 (``tvm.relay.testing``, no download)
with each tuner at the same trial budget, writes one standard AutoTVM log per tuner, prints a table,
then builds the network untuned and with ``autotvm.apply_history_best`` of each log and reports
end-to-end latency: the median over ``--latency-rounds`` rounds (each the mean of 5 runs, the builds
timed in turn within a round so that a change of machine load hits all of them) and the range.

The tuners: ``arco``; ``xgb``, XGBTuner as constructed in TVM's tutorials (``plan_size=64``: within
64 trials its cost model is never used, so at the default 48 trials it is random search); and
``xgb8``, XGBTuner with ``plan_size=8``, the one-argument change that puts its model to work.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TOPHUB_LOCATION", "NONE")  # no network here: skip TVM's tophub download

import numpy as np  # noqa: E402
import tvm  # noqa: E402
from tvm import autotvm, relay  # noqa: E402
from tvm.contrib import graph_executor  # noqa: E402
from tvm.relay import testing  # noqa: E402

from . import host_target  # noqa: E402
from .bench import TUNERS as ALL_TUNERS  # noqa: E402
from .timing import time_in_tuner  # noqa: E402

TUNERS = {name: ALL_TUNERS[name] for name in ("arco", "xgb", "xgb8")}


def resnet18():
    return testing.resnet.get_workload(num_layers=18, batch_size=1, image_shape=(3, 224, 224))


def conv2d_tasks(mod, params, target):
    tasks = autotvm.task.extract_from_program(mod["main"], target=target, params=params,
                                              ops=(relay.op.get("nn.conv2d"),))
    return [t for t in tasks if t.name.startswith("conv2d")]


def tune_task(task, tuner_name, trials, seed, log_file, prefix):
    np.random.seed(seed)
    tuner = TUNERS[tuner_name](task, seed)
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=30),
        runner=autotvm.LocalRunner(number=5, repeat=1, min_repeat_ms=50, timeout=30),
    )
    n_trial = min(trials, len(task.config_space))
    tic = time.time()
    with time_in_tuner(tuner) as clock:
        tuner.tune(n_trial=n_trial, measure_option=option,
                   callbacks=[autotvm.callback.progress_bar(n_trial, prefix=prefix),
                              autotvm.callback.log_to_file(log_file)])
    return {"best_gflops": tuner.best_flops / 1e9, "wall_seconds": time.time() - tic,
            "tuner_seconds": clock.seconds, "trials": n_trial}


def build_network(mod, params, target, log_file=None):
    context = autotvm.apply_history_best(log_file) if log_file else autotvm.FallbackContext()
    with context, tvm.transform.PassContext(opt_level=3):
        lib = relay.build(mod, target=target, params=params)
    module = graph_executor.GraphModule(lib["default"](tvm.cpu()))
    module.set_input("data", np.random.default_rng(0).uniform(size=(1, 3, 224, 224)).astype("float32"))
    return module


def latency_rounds_ms(modules, rounds):
    """{name: [ms per round]}: every round times each module once (mean of 5 runs, after a warm-up)."""
    timers = {name: module.module.time_evaluator("run", tvm.cpu(), number=5, repeat=1)
              for name, module in modules.items()}
    for timer in timers.values():
        timer()  # warm-up
    out = {name: [] for name in modules}
    for _ in range(rounds):
        for name, timer in timers.items():
            out[name].append(float(timer().results[0]) * 1e3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3, help="number of ResNet-18 conv2d tasks to tune")
    parser.add_argument("--trials", type=int, default=48, help="trials per task and tuner")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/demo")
    parser.add_argument("--skip-network", action="store_true", help="do not build/time the whole network")
    parser.add_argument("--latency-rounds", type=int, default=15, help="timing rounds of each network build")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    target = host_target()
    print(f"target: {target}")
    mod, params = resnet18()
    tasks = conv2d_tasks(mod, params, target)[: args.tasks]
    logs = {name: os.path.join(args.out, f"{name}.log") for name in TUNERS}
    for path in logs.values():
        if os.path.exists(path):
            os.remove(path)
    rows = []
    for i, task in enumerate(tasks):
        row = {"task": f"{task.name}{task.args[0][1]}x{task.args[1][1]}", "space": len(task.config_space)}
        for name in TUNERS:
            prefix = f"[{name:4s} task {i + 1}/{len(tasks)}] "
            row[name] = tune_task(task, name, args.trials, args.seed, logs[name], prefix)
            print()
        rows.append(row)

    print(f"\nResNet-18 conv2d tasks, {args.trials} trials per task and tuner, seed {args.seed}")
    header = f"{'task':58s} {'space':>5s} | {'tuner':5s} {'best GFLOPS':>11s} {'wall s':>7s} {'in-tuner s':>10s}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        for name in TUNERS:
            r = row[name]
            print(f"{row['task'][:58]:58s} {row['space']:5d} | {name:5s} {r['best_gflops']:11.2f} "
                  f"{r['wall_seconds']:7.1f} {r['tuner_seconds']:10.2f}")
    summary = {"target": str(target), "trials": args.trials, "seed": args.seed, "tasks": rows, "logs": logs}
    if not args.skip_network:
        print("\nbuilding ResNet-18 (batch 1) and timing end-to-end latency ...")
        modules = {"untuned": build_network(mod, params, target)}
        for name, path in logs.items():
            modules[f"tuned_{name}"] = build_network(mod, params, target, path)
        latency = latency_rounds_ms(modules, args.latency_rounds)
        summary["latency_ms"] = latency
        print(f"ResNet-18 latency, ms: median of {args.latency_rounds} rounds (min-max); only the {len(tasks)} "
              f"tuned conv2d tasks differ from the untuned build")
        for name, values in latency.items():
            print(f"  {name:12s} {np.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})")
        print("  (a difference smaller than these ranges is run-to-run noise)")
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=1)
    print(f"logs and summary.json in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
