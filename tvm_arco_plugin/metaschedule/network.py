"""Network benchmark: ResNet-18's convolutions tuned together, as ``tune_relax`` tunes a network.

    python -m tvm_arco_plugin.metaschedule.network --strategies arco,evolutionary --seeds 0,1 \\
        --trials-per-task 64 --per-iter 32 --runner-repeat 3 --retime 5 --out ms_network.json

Why: the per-workload benchmark (bench.py) tunes one task alone, so EvolutionarySearch's cost model
spends its first 100 results warming up on that task. In a network, ``tune_tasks`` shares one cost
model and one database between all tasks under its gradient task scheduler: after the first tasks'
results the model guides every strategy's first batches of the later tasks. This benchmark measures
what a user tuning a network gets: the 11 distinct conv2d tasks of ResNet-18 (batch 1, 224x224,
without batch norm, which inference folds into the convolutions), each weighted by how often the
network runs it, extracted by ``relax_integration.extract_tasks`` and tuned by ``ms.tune_tasks``
with the same builder, runner, database and cost model for every strategy.

The figure is MetaSchedule's own: the weighted sum over the tasks of each task's best latency (the
task scheduler's "Total latency"), after every trial, and, with ``--retime R``, the same sum of
the schedules each run would deploy (every task's best record), timed together with the other
strategies' in R rounds (retime.py).
"""
import argparse
import json
import sys
import tempfile
import time

import numpy as np

from ..target import host_cpu
from ._tvm import require_metaschedule
from .bench import STRATEGIES, _recorder, arco_variant, load_runs, parse_seeds, strategy_seconds, write_results
from .workloads import default_target

# ResNet-18's stages: (input channels, output channels, first block's stride), two basic blocks each.
RESNET18_STAGES = ((64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2))


def resnet18_convolutions(image=224):
    """ResNet-18's convolutional backbone as a Relax module (stem, four stages of two basic blocks with
    their residual adds and down-sampling 1x1 convolutions), legalized to TIR; weights are parameters."""
    require_metaschedule()
    from tvm import relax

    bb = relax.BlockBuilder()
    params = []

    def conv(x, cin, cout, kernel, stride):
        weight = relax.Var(f"w{len(params)}", relax.TensorType((cout, cin, kernel, kernel), "float32"))
        params.append(weight)
        return bb.emit(relax.op.nn.conv2d(x, weight, strides=stride, padding=kernel // 2))

    data = relax.Var("data", relax.TensorType((1, 3, image, image), "float32"))
    with bb.function("main"):
        with bb.dataflow():
            x = bb.emit(relax.op.nn.relu(conv(data, 3, 64, 7, 2)))
            x = bb.emit(relax.op.nn.max_pool2d(x, pool_size=3, strides=2, padding=1))
            for cin, cout, stride in RESNET18_STAGES:
                for block in range(2):
                    block_in, block_stride = (cin, stride) if block == 0 else (cout, 1)
                    y = bb.emit(relax.op.nn.relu(conv(x, block_in, cout, 3, block_stride)))
                    y = conv(y, cout, cout, 3, 1)
                    shortcut = conv(x, block_in, cout, 1, block_stride) if block_stride != 1 or block_in != cout else x
                    x = bb.emit(relax.op.nn.relu(bb.emit(relax.op.add(y, shortcut))))
            out = bb.emit_output(x)
        bb.emit_func_output(out, params=[data] + params)
    return relax.transform.LegalizeOps()(bb.get())


def conv2d_tasks(mod, target):
    """The network's conv2d tasks (``ExtractedTask``s, weight = how often the network runs each)."""
    _, ms = require_metaschedule()
    return [t for t in ms.relax_integration.extract_tasks(mod, target) if "conv2d" in t.task_name]


def weighted_latency_curve(task_ids, seconds, weights):
    """After every trial (measurement order; ``task_ids[i]`` the task of trial i, ``seconds[i]`` its run
    time or None): the weighted sum of the tasks' best run times so far, None until every task has one."""
    best = [None] * len(weights)
    curve = []
    for task, sec in zip(task_ids, seconds):
        if sec is not None and (best[task] is None or sec < best[task]):
            best[task] = sec
        curve.append(None if None in best else float(sum(w * b for w, b in zip(weights, best))))
    return curve


def latency_at(run, trials):
    """The run's weighted latency (seconds) after its first ``trials`` trials, None if not yet defined."""
    curve = run["weighted_latency_curve"][:trials]
    return curve[-1] if curve else None


def run_one(strategy_name, seed, trials_per_task, per_iter, builder, runner_repeat=1, keep=False, image=224):
    """One ``tune_tasks`` of ResNet-18's conv2d tasks with ``strategy_name``; ``keep``: keep every task's
    fastest schedule for re-timing."""
    tvm, ms = require_metaschedule()
    from .retime import kept_schedules

    target = default_target()
    extracted = conv2d_tasks(resnet18_convolutions(image), target)
    arco = arco_variant(strategy_name, seed)
    seconds, traces, task_ids = [], [], []
    callbacks = ms.measure_callback.MeasureCallback.create("default") + [_recorder(ms, seconds, traces, task_ids)]
    runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(repeat=runner_repeat))
    tic = time.time()
    with tempfile.TemporaryDirectory() as work_dir, ms.Profiler() as profiler:
        contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
            extracted, work_dir, strategy=arco if arco is not None else strategy_name, seed=seed)
        ms.tune_tasks(tasks=contexts, task_weights=weights, work_dir=work_dir,
                      max_trials_global=trials_per_task * len(contexts), num_trials_per_iter=per_iter,
                      builder=builder, runner=runner, measure_callbacks=callbacks, cost_model="xgb")
        profile = {k: float(v) for k, v in profiler.get().items()}
    weights = [float(w) for w in weights]
    names = [t.task_name for t in extracted]
    kept = None
    if keep:
        kept = []
        for task in range(len(names)):
            mine = [i for i, t in enumerate(task_ids) if t == task]
            kept.append(kept_schedules([seconds[i] for i in mine], [traces[i] for i in mine], [len(mine)], 1)
                        if mine else None)
    return {
        "network": "resnet18_conv2d", "image": image, "strategy": strategy_name, "seed": seed,
        "trials_per_task": trials_per_task, "per_iter": per_iter, "runner_repeat": runner_repeat,
        "tasks": names, "weights": weights,
        "flops": [float(tvm.s_tir.analysis.estimate_tir_flops(t.dispatched[0])) for t in extracted],
        "task_ids": task_ids, "seconds": seconds,
        "weighted_latency_curve": weighted_latency_curve(task_ids, seconds, weights),
        "trials_per_task_used": np.bincount(task_ids, minlength=len(names)).tolist(),
        "failed": sum(s is None for s in seconds),
        "strategy_seconds": strategy_seconds(profile, arco.stats if arco else None),
        "total_seconds": time.time() - tic, "kept": kept,
    }


def retime_runs(runs, rounds, seed, builder):
    """Times every run's deployed schedule of every task together (retime.py), and sets each run's
    ``retimed_weighted_latency``: the weighted sum of its tasks' re-timed run times."""
    from .retime import retime

    extracted = conv2d_tasks(resnet18_convolutions(runs[0]["image"]), default_target())
    for task, (ext, flops) in enumerate(zip(extracted, runs[0]["flops"])):
        group = [{"kept": run["kept"][task], "strategy": run["strategy"], "seed": run["seed"],
                  "workload": ext.task_name} for run in runs]
        for run, retimed in zip(runs, retime(ext.dispatched[0], group, rounds, seed=seed, builder=builder)):
            gflops = retimed["gflops"][str(run["trials_per_task_used"][task])]["top1"]
            run.setdefault("retimed_task_seconds", [None] * len(extracted))[task] = (
                flops / (gflops * 1e9) if gflops > 0 else None)
    for run in runs:
        secs = run["retimed_task_seconds"]
        run["retimed_weighted_latency"] = (None if None in secs else
                                           float(sum(w * s for w, s in zip(run["weights"], secs))))


def summarise(runs, checkpoints=(16, 32, 48, 64), reference="evolutionary"):
    """Per strategy: the weighted latency (ms, per seed) after ``checkpoints`` trials per task (and the
    whole budget), the re-timed latency of the deployed schedules, the trials (all tasks) to the
    ``reference``'s latency at the budget of the same seed (None: not within the budget), and time in the
    strategy per trial."""
    out = {}
    budgets = {r["trials_per_task"] for r in runs}
    checkpoints = sorted({c for c in checkpoints if c <= min(budgets, default=0)} | budgets)
    for strategy in sorted({r["strategy"] for r in runs}):
        mine = [r for r in runs if r["strategy"] == strategy]
        row = {"seeds": [r["seed"] for r in mine], "latency_ms_at_trials_per_task": {}}
        for c in checkpoints:
            values = [latency_at(r, c * len(r["tasks"])) for r in mine]
            if values and None not in values:
                row["latency_ms_at_trials_per_task"][c] = [round(1e3 * v, 4) for v in values]
        retimed = [r.get("retimed_weighted_latency") for r in mine]
        if retimed and None not in retimed:
            row["retimed_latency_ms"] = [round(1e3 * v, 4) for v in retimed]
        # As the per-workload benchmark's trials target: the trials to EvolutionarySearch's latency at the
        # budget. Both are read at the budget, not at the curves' ends: the task scheduler's last batch
        # can overshoot it, by a different amount in each run.
        reached = {}
        for r in mine:
            budget = r["trials_per_task"] * len(r["tasks"])
            ref = [x for x in runs if x["strategy"] == reference and x["seed"] == r["seed"]]
            target = latency_at(ref[0], budget) if strategy != reference and ref else None
            if target is not None:
                reached[r["seed"]] = next((i + 1 for i, v in enumerate(r["weighted_latency_curve"][:budget])
                                           if v is not None and v <= target), None)
        if reached:
            row["trials_to_%s_final" % reference] = reached
        timed = [r["strategy_seconds"] / len(r["seconds"]) for r in mine if r["strategy_seconds"] is not None]
        row["strategy_seconds_per_trial"] = float(np.mean(timed)) if timed else None
        out[strategy] = row
    return out


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"arco": "tab:red", "arco_noagents": "tab:orange", "evolutionary": "tab:blue", "replay-trace": "tab:gray"}
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        points = [(i + 1, 1e3 * v) for i, v in enumerate(r["weighted_latency_curve"]) if v is not None]
        ax.plot(*zip(*points), color=colours.get(r["strategy"], "k"), alpha=0.7,
                label=f'{r["strategy"]} seed {r["seed"]}')
    ax.set_title("ResNet-18's conv2d tasks tuned together")
    ax.set_xlabel("measured trials (all tasks)")
    ax.set_ylabel("weighted latency of the bests (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", default="arco,evolutionary")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--trials-per-task", type=int, default=64)
    parser.add_argument("--per-iter", type=int, default=32)
    parser.add_argument("--image", type=int, default=224, help="input height and width (224: ResNet-18's)")
    parser.add_argument("--runner-repeat", type=int, default=1, help="timings per candidate (LocalRunner's repeat)")
    parser.add_argument("--retime", type=int, default=0, metavar="ROUNDS", help="once all strategies of a seed "
                        "have run, time their deployed schedules together in ROUNDS rounds")
    parser.add_argument("--out", required=True, help="JSON file; runs already in it are kept and not re-run")
    parser.add_argument("--plot", help="PNG of the weighted-latency curves")
    args = parser.parse_args(argv)
    strategies = args.strategies.split(",")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy: {', '.join(unknown)}")
    seeds = parse_seeds(parser, args.seeds)
    if min(args.trials_per_task, args.per_iter, args.image, args.runner_repeat) < 1 or args.retime < 0:
        parser.error("--trials-per-task, --per-iter, --image and --runner-repeat must be positive, --retime >= 0")
    cpu = host_cpu()
    try:
        runs = load_runs(args.out, cpu)
    except ValueError as err:
        parser.error(str(err))
    setup = {"trials_per_task": args.trials_per_task, "per_iter": args.per_iter, "image": args.image,
             "runner_repeat": args.runner_repeat}
    if any({k: r[k] for k in setup} != setup for r in runs):
        parser.error(f"{args.out} holds runs with other --trials-per-task, --per-iter, --image or --runner-repeat; "
                     "use another --out")
    from .builder import local_builder

    builder = local_builder()
    try:
        for seed in seeds:
            for strategy in strategies:
                if any(r["strategy"] == strategy and r["seed"] == seed for r in runs):
                    continue
                print(f"network: {strategy} seed {seed}", file=sys.stderr, flush=True)
                runs.append(run_one(strategy, seed, args.trials_per_task, args.per_iter, builder,
                                    args.runner_repeat, keep=bool(args.retime), image=args.image))
                _save(args, runs, cpu)
            group = [r for r in runs if r["seed"] == seed and r.get("kept")]
            if args.retime and any("retimed_weighted_latency" not in r for r in group):
                print(f"network: re-timing {len(group)} runs of seed {seed}", file=sys.stderr, flush=True)
                retime_runs(group, args.retime, seed, builder)
                _save(args, runs, cpu)
    except ValueError as err:  # a kept schedule that no longer replays or builds; finished runs are saved
        print(f"network: {err}", file=sys.stderr)
        return 2
    finally:
        builder.shutdown()
    if runs:  # the summary and plot as this version computes them, also when every run was already there
        _save(args, runs, cpu)
    print(json.dumps(summarise(runs), indent=1))
    return 0


def _save(args, runs, cpu):
    write_results(args.out, cpu, runs, summary=summarise(runs))
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    sys.exit(main())
