"""Benchmarks: record full search spaces, then replay every tuner on them deterministically.

    python -m tvm_arco_plugin.bench record --network resnet18 --tasks 0,1 --out-dir benchmarks/spaces
    python -m tvm_arco_plugin.bench record --template arco/matmul_large --args 128,128,128 --out-dir ...
    python -m tvm_arco_plugin.bench replay LOG [LOG ...] --tuners arco,xgb,xgb8,ga,random,gridsearch,droplet \
        --budget 64,128,256 --seeds 10 --out results.json [--plot curves.png] [--import my_templates.py]
    python -m tvm_arco_plugin.bench noise LOG [LOG ...] --top 20 --rounds 3 --out noise.json
    python -m tvm_arco_plugin.bench live --network resnet18 --tasks 0,12 --tuners arco,xgb --budget 64 --seeds 3
"""
import argparse
import contextlib
import importlib.util
import json
import os
import random
import sys
import time

os.environ.setdefault("TOPHUB_LOCATION", "NONE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tvm import autotvm, relay  # noqa: E402
from tvm.autotvm.measure import MeasureErrorNo  # noqa: E402
from tvm.relay import testing  # noqa: E402

from . import ARCOTuner, host_target, templates  # noqa: E402,F401  (templates: registers arco/*)
from .chameleon import ChameleonTuner  # noqa: E402
from .recording import record_space, recorded_indexes  # noqa: E402
from .replay import RecordedResults, replay_option  # noqa: E402
from .search.engine import SearchSettings  # noqa: E402
from .search.marl import PPOSettings  # noqa: E402
from .timing import time_in_tuner  # noqa: E402
from .tuner import throughput  # noqa: E402



def _arco(**changes):
    """ARCOTuner, one of its ablations (the same engine with one mechanism removed), or a variant."""
    return lambda task, seed, threads=None, features=None: ARCOTuner(
        task, seed=seed, num_threads=threads, settings=SearchSettings(**changes))


def _xgb(**kwargs):
    return lambda task, seed, threads=None, features=None: autotvm.tuner.XGBTuner(
        task, num_threads=threads, feature_type=features or "itervar", **kwargs)


def _plain(cls):
    return lambda task, seed, threads=None, features=None: cls(task)


# name -> (task, seed, threads=None, features=None) -> tuner. ``threads``: the XGBoost threads of
# model-based tuners (None: XGBoost's default; replays give the same proposals whatever it is, see
# tests/test_records_and_replay.py). ``features``: the cost-model features of XGBTuner and CHAMELEON
# (default itervar, as in TVM; ARCO uses knob features).
TUNERS = {
    "arco": _arco(),
    "arco_noagents": _arco(candidate_source="random"),  # candidates: random configs instead of the walks
    "arco_frozen": _arco(learning=False),  # the agents walk, but PPO never updates them
    # every score the search uses is expected + the cost model's uncertainty (search/uncertainty.py)
    "arco_optimism": _arco(optimism=1.0),
    # the agents stop learning once their policy's entropy falls below 0.8 of a uniform policy's ...
    "arco_entfloor": _arco(ppo=PPOSettings(entropy_floor=0.8)),
    # ... or keep learning with an entropy bonus that grows while the entropy is below 0.8 of it
    "arco_enttarget": _arco(ppo=PPOSettings(entropy_target=0.8)),
    # the agents learn only from real measurements (the moves that reached measured configs), not the model
    "arco_measured": _arco(ppo=PPOSettings(reward_source="measured")),
    # ... or from the same moves rewarded at random: the control for what the measurements teach
    "arco_randomreward": _arco(ppo=PPOSettings(reward_source="random")),
    # the hardware agent's share, on the joint spaces' recommended setting (learning off): without its own
    # proposals (it still acts in the walks), and with its own policy learning while the walks' stays frozen
    "arco_frozen_noleader": _arco(learning=False, leader_proposals=0),
    "arco_frozen_hwlearns": _arco(learning=False, hardware_learning=True),
    # ARCO's default (learning on) without the hardware agent's own proposals
    "arco_noleader": _arco(leader_proposals=0),
    "xgb": _xgb(),
    "xgb8": _xgb(plan_size=8),
    "ga": _plain(autotvm.tuner.GATuner),
    "random": _plain(autotvm.tuner.RandomTuner),
    "gridsearch": _plain(autotvm.tuner.GridSearchTuner),
    "droplet": _plain(autotvm.tuner.DropletTuner),
    "chameleon": lambda task, seed, threads=None, features=None: ChameleonTuner(
        task, seed=seed, num_threads=threads, feature_type=features or "itervar"),
}
NETWORKS = {
    "resnet18": lambda: testing.resnet.get_workload(num_layers=18, batch_size=1),
    "vgg16": lambda: testing.vgg.get_workload(num_layers=16, batch_size=1),
}


# ---- record -------------------------------------------------------------------------------------
def local_measure_option(args):
    """AutoTVM's LocalBuilder + LocalRunner with the command's --number/--repeat/--min-repeat-ms/--timeout."""
    return autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=args.timeout),
        runner=autotvm.LocalRunner(number=args.number, repeat=args.repeat, min_repeat_ms=args.min_repeat_ms,
                                   timeout=args.timeout))


def add_measure_options(parser, timeout=30):
    """The --number/--repeat/--min-repeat-ms/--timeout options that ``local_measure_option`` reads."""
    parser.add_argument("--number", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-repeat-ms", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=timeout, help="seconds per build or run")


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
    paths = [os.path.join(args.out_dir, task_file_name(task)) for task in tasks]
    try:  # every log is checked before anything is measured
        for task, path in zip(tasks, paths):
            recorded_indexes(task, path)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    option = local_measure_option(args)
    os.makedirs(args.out_dir, exist_ok=True)
    for task, path in zip(tasks, paths):
        print(f"recording {task.name} {task.args}: {len(task.config_space)} configs -> {path}", flush=True)
        record_space(task, path, option)
    return 0


# ---- replay -------------------------------------------------------------------------------------
def import_file(path):
    """Import a user's Python file as a module (its __main__ block does not run) to register templates."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def load_recorded_space(path, target=None):
    """(task, recorded results, config index -> FLOP/s) of a fully recorded space.

    The task is re-created for the log's own target unless ``target`` is given: a replay builds
    nothing, so it runs on any CPU, while anything that measures must use this machine's target.
    """
    recorded = RecordedResults.from_log(path)
    try:
        task = autotvm.task.create(recorded.task_name, args=recorded.task_args, target=target or recorded.target)
    except Exception as err:  # pylint: disable=broad-except
        raise SystemExit(f"{path}: cannot re-create task {recorded.task_name}: {err} "
                         f"(a template of your own needs --import FILE.py)") from err
    missing = recorded.missing(task.config_space)
    if missing:
        raise SystemExit(f"{path}: {len(missing)} of {len(task.config_space)} configs of {recorded.task_name} are "
                         f"not in the log (e.g. index {missing[0]}); replay needs a fully recorded space")
    flops = {i: throughput(task, r) for i, r in recorded.results.items()}
    return task, recorded, flops


def trials_to(curve, level):
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return int(hits[0]) + 1 if len(hits) else None


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Run:
    """One tuner run: the throughput of every measurement in order, the time spent in the tuner, and
    for ARCO's engine what its agents did (:func:`search_stats`)."""

    def __init__(self, flops, clock, wall_seconds, stats=None):
        self.flops = np.asarray(flops, dtype=float)
        self.clock = clock
        self.wall_seconds = wall_seconds
        self.stats = stats or {}

    def best_curve(self, budget):
        head = self.flops[:budget]
        return np.maximum.accumulate(head) if len(head) else np.zeros(1)


def search_stats(tuner):
    """ARCO-engine runs: the share of measured configs that only the agents' walks reached, and the
    policy's entropy relative to a uniform policy in each round; {} for other tuners."""
    search = getattr(tuner, "search", None)
    if search is None or not hasattr(search, "entropy_per_round"):
        return {}
    return {"sources": [search.source.get(int(i), "other") for i in tuner.xs],
            "entropy_per_round": [(n, round(e, 4)) for n, e in search.entropy_per_round]}


def walk_share(sources, budget):
    """Share of the first ``budget`` measurements that only the agents' walks reached."""
    head = sources[:budget]
    return sum(s == "walk" for s in head) / len(head) if head else 0.0


# One feature cache per task, shared by every replayed run of it (features depend only on the config).
_FEATURE_CACHES = {}


def share_feature_cache(tuner, task):
    """Let model-based tuners reuse the features earlier runs on this task extracted.

    Only the replay benchmark does this, to make 10 seeds x 8 tuners affordable; it changes no
    proposal (features are a pure function of the config) but lowers every model-based tuner's
    ``search_seconds`` (ARCO's, XGBTuner's and CHAMELEON's alike) after the first run.
    """
    from tvm.autotvm.tuner.xgboost_cost_model import FeatureCache

    model = getattr(tuner, "cost_model", None)
    if model is not None and hasattr(model, "feature_cache"):
        model.feature_cache = _FEATURE_CACHES.setdefault((task.name, tuple(task.args)), FeatureCache())


def run_tuner(task, tuner_name, budget, seed, measure_option, flops_of_result, shared_features=False, threads=None,
              features=None, expect_errors=False, log=None):
    """``expect_errors``: most configs of the space fail (co-design joint spaces); without it AutoTVM
    switches its logger to DEBUG after 150 errors. ``log``: an AutoTVM log the run's records go to."""
    seed_all(seed)
    tuner = TUNERS[tuner_name](task, seed, threads, features)
    if expect_errors:
        tuner.set_error_threshold(10 ** 9)
    if shared_features:
        share_feature_cache(tuner, task)
    measured = []

    def keep(_, inputs, results):
        measured.extend(flops_of_result(inp, res) for inp, res in zip(inputs, results))

    callbacks = [keep] + ([autotvm.callback.log_to_file(log)] if log else [])
    tic = time.perf_counter()
    with time_in_tuner(tuner) as clock:
        tuner.tune(n_trial=min(budget, len(task.config_space)), measure_option=measure_option, callbacks=callbacks)
    return Run(measured, clock, time.perf_counter() - tic, search_stats(tuner))


def replay_one(task, recorded, flops, tuner_name, budget, seed, batch, threads=None):
    option = replay_option(recorded, n_parallel=batch)
    return run_tuner(task, tuner_name, budget, seed, option, lambda inp, _: flops.get(inp.config.index, 0.0),
                     shared_features=True, threads=threads)


def summarise(entries, budget, seeds):
    """The benchmark JSON (the documented interface) for one budget, from full-length runs."""
    out = {"budget": budget, "seeds": seeds, "tasks": []}
    for entry in entries:
        optimum = entry["optimum"]
        task_out = {k: v for k, v in entry.items() if k not in ("runs", "optimum")}
        task_out["tuners"] = {}
        for name, runs in entry["runs"].items():
            stats = {"best_gflops": [], "trials_to_95": [], "trials_to_99": [], "search_seconds": [],
                     "best_steps": []}
            for run in runs:
                curve = run.best_curve(budget)
                stats["best_gflops"].append(float(curve[-1] / 1e9))
                stats["trials_to_95"].append(trials_to(curve, 0.95 * optimum))
                stats["trials_to_99"].append(trials_to(curve, 0.99 * optimum))
                stats["search_seconds"].append(run.clock.seconds_at(budget))
                stats["best_steps"].append(best_steps(curve))
            if any(r.wall_seconds is not None for r in runs) and "live" in entry:
                stats["wall_seconds"] = [r.wall_seconds for r in runs]
            if any(r.stats for r in runs):
                stats["walk_share"] = [round(walk_share(r.stats["sources"], budget), 4) for r in runs]
                # Rounds that began before the budget's last measurement: [(measured so far, entropy ratio)].
                stats["entropy_per_round"] = [[e for e in r.stats["entropy_per_round"] if e[0] < budget]
                                              for r in runs]
            task_out["tuners"][name] = stats
        out["tasks"].append(task_out)
    return out


def best_steps(curve):
    """A best-so-far curve as its improvements, [[trial, GFLOPS], ...]: enough to redraw it, and small."""
    steps, previous = [], None
    for trial, flops in enumerate(curve, start=1):
        if flops != previous:
            steps.append([trial, round(float(flops) / 1e9, 4)])
            previous = flops
    if steps and steps[-1][0] != len(curve):  # the last point carries the curve's length
        steps.append([len(curve), steps[-1][1]])
    return steps


def curve_of_steps(steps):
    curve = np.zeros(steps[-1][0])
    for trial, gflops in steps:  # in trial order: each step holds until the next overwrites the rest
        curve[trial - 1:] = gflops
    return curve


def report(out):
    for task in out["tasks"]:
        for name, stats in task["tuners"].items():
            t95 = stats["trials_to_95"]
            median95 = np.median(t95) if all(t is not None for t in t95) else "n/a"
            print(f"budget {out['budget']:4d} {task['task'][:48]:48s} {name:10s} "
                  f"best {np.median(stats['best_gflops']):8.2f} GFLOPS (opt {task['optimum_gflops']:.2f})  "
                  f"median trials to 95%: {median95:>5}  search s/trial "
                  f"{np.sum(stats['search_seconds']) / (len(t95) * out['budget']):.4f}", flush=True)


def budgets_of(text):
    return sorted({int(b) for b in str(text).split(",")})


def out_path(path, budget, budgets):
    if len(budgets) == 1:
        return path
    root, ext = os.path.splitext(path)
    return f"{root}_{budget}{ext or '.json'}"


def write_results(args, entries, budgets):
    for budget in budgets:
        out = summarise(entries, budget, args.seeds)
        report(out)
        with open(out_path(args.out, budget, budgets), "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)
        if args.plot:
            plot_curves(out, out_path(args.plot, budget, budgets))


def check_tuners(names):
    unknown = [n for n in names if n not in TUNERS]
    if unknown:
        raise SystemExit(f"unknown tuner(s) {unknown}; available: {','.join(TUNERS)}")


def cmd_replay(args):
    for path in args.import_files or ():
        import_file(path)
    names = args.tuners.split(",")
    check_tuners(names)
    budgets = budgets_of(args.budget)
    entries = []
    for path in args.logs:
        task, recorded, flops = load_recorded_space(path)
        entry = {"log": path, "task": f"{task.name} {task.args}", "space_size": len(task.config_space),
                 "optimum_gflops": max(flops.values()) / 1e9, "optimum": max(flops.values()), "runs": {}}
        for name in names:
            entry["runs"][name] = [replay_one(task, recorded, flops, name, budgets[-1], seed, args.batch, args.threads)
                                   for seed in range(args.seeds)]
            print(f"{os.path.basename(path)[:50]}: {name} done", flush=True)
        entries.append(entry)
    write_results(args, entries, budgets)
    return 0


# Real TOPI templates with spaces too large to score whole (>= 10^5 configs), measured live.
LARGE_CPU_WORKLOADS = {
    # dense_pack.x86, 512x512x512: 3-way splits of both output axes, 2-way of the reduction (151,250)
    "dense_pack_512": ("dense_pack.x86", (("TENSOR", (512, 512), "float32"), ("TENSOR", (512, 512), "float32"),
                                          None, "float32")),
    # conv2d_nchw_spatial_pack.arm_cpu compiled for this x86 CPU: 1x32x112x112 -> 64 channels, 3x3 (112,000)
    "spatial_pack_112": ("conv2d_nchw_spatial_pack.arm_cpu", (("TENSOR", (1, 32, 112, 112), "float32"),
                                                             ("TENSOR", (64, 32, 3, 3), "float32"), (1, 1),
                                                             (1, 1, 1, 1), (1, 1), "float32")),
}


def live_tasks(args, target):
    """[(label, task)] of ``--workloads`` or of ``--network``'s ``--tasks``."""
    if args.workloads:
        from tvm import topi  # noqa: F401  (registers TOPI's templates, arm_cpu's included)

        unknown = set(args.workloads.split(",")) - set(LARGE_CPU_WORKLOADS)
        if unknown:
            raise SystemExit(f"--workloads: unknown {sorted(unknown)}; known: {','.join(LARGE_CPU_WORKLOADS)}")
        return [(name, autotvm.task.create(*LARGE_CPU_WORKLOADS[name], target=target))
                for name in args.workloads.split(",")]
    every = network_tasks(args.network, target)
    return [(f"{args.network} task {i}", every[i]) for i in (int(t) for t in args.tasks.split(","))]


def reference_best(paths, task):
    """The best FLOP/s any record of ``task`` (this template, arguments and target) in ``paths`` measured."""
    from .records import read_records, task_key

    best = 0.0
    for path in paths or ():
        for inp, res in read_records(path):
            if task_key(inp.task, inp.target) == task_key(task):
                best = max(best, throughput(task, res))
    return best


def cmd_live(args):
    names = args.tuners.split(",")
    check_tuners(names)
    budgets = budgets_of(args.budget)
    entries = []
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    for label, task in live_tasks(args, host_target()):
        entry = {"log": None, "task": f"{label}: {task.name} {task.args}", "space_size": len(task.config_space),
                 "live": True, "runs": {}}
        for name in names:
            entry["runs"][name] = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                log = os.path.join(args.log_dir, f"{task_file_name(task)[:60]}_{name}_s{seed}.log") \
                    if args.log_dir else None
                run = run_tuner(task, name, budgets[-1], seed, local_measure_option(args),
                                lambda inp, res: throughput(inp.task, res), features=args.features, log=log)
                entry["runs"][name].append(run)
                print(f"{label} {name} seed {seed}: best {run.flops.max() / 1e9:.2f} GFLOPS, "
                      f"{run.wall_seconds:.0f} s wall", flush=True)
        # Live, the optimum is unknown: trials-to-X% are measured against the best any run found,
        # including the runs of --reference logs (e.g. one long run).
        best_found = max(r.flops.max() for runs in entry["runs"].values() for r in runs)
        entry["optimum"] = max(best_found, reference_best(args.reference, task))
        if entry["optimum"] <= 0:
            raise SystemExit(f"{label}: every measurement of every run failed on this machine; no results written")
        entry["optimum_gflops"] = entry["optimum"] / 1e9
        entry["optimum_is_best_found"] = True
        entry["reference_logs"] = list(args.reference or ())
        entries.append(entry)
    write_results(args, entries, budgets)
    return 0


@contextlib.contextmanager
def measured_as_when_tuning():
    """TOPI's x86 conv2d_NCHWc and dense_pack templates take the weight pre-packed as an input while
    AutoTVM tunes (``GLOBAL_SCOPE.in_tuning``, set by ``Tuner.tune``) and pack it inside the measured
    kernel otherwise; a re-measurement must run the kernel the recording measured."""
    before = autotvm.GLOBAL_SCOPE.in_tuning
    autotvm.GLOBAL_SCOPE.in_tuning = True
    try:
        yield
    finally:
        autotvm.GLOBAL_SCOPE.in_tuning = before


def remeasure(measure, inputs):
    """``measure`` (a ``create_measure_batch``) of every input, eight at a time, as when tuning."""
    results = []
    with measured_as_when_tuning():
        for start in range(0, len(inputs), 8):
            results += measure(inputs[start:start + 8])
    return results


def cmd_noise(args):
    """Re-measure the best configs of recorded logs: how stable is the recorded ranking?"""
    from scipy.stats import kendalltau  # scipy comes with xgboost
    from tvm.autotvm.measure.measure import create_measure_batch

    out = {"number": args.number, "repeat": args.repeat, "min_repeat_ms": args.min_repeat_ms, "rounds": args.rounds,
           "tasks": []}
    here = host_target()
    for path in args.logs:
        task, recorded, flops = load_recorded_space(path, target=here)
        if str(recorded.target) != str(here):
            print(f"{os.path.basename(path)}: recorded for {recorded.target}; re-measured with this machine's "
                  f"target {here}", flush=True)
        top = sorted(flops, key=lambda i: -flops[i])[:args.top]
        measure = create_measure_batch(task, local_measure_option(args))
        inputs = [autotvm.MeasureInput(task.target, task, task.config_space.get(i)) for i in top]
        rounds = []
        for _ in range(args.rounds):
            results = remeasure(measure, inputs)
            failed = [r for r in results if r.error_no != 0]
            if failed:
                kinds = sorted({MeasureErrorNo(int(r.error_no)).name for r in failed})
                raise SystemExit(f"{path}: {len(failed)} of {len(results)} re-measurements failed on this machine "
                                 f"({', '.join(kinds)}); no noise figures are written from failed measurements")
            rounds.append([throughput(task, r) for r in results])
        del measure
        again = np.array(rounds)  # [round, config]
        mean = again.mean(axis=0)
        cv = again.std(axis=0) / np.maximum(mean, 1e-12) if args.rounds > 1 else np.zeros(len(top))
        recorded_gflops = np.array([flops[i] for i in top])
        tau = kendalltau(recorded_gflops, mean).statistic
        drift = np.abs(mean - recorded_gflops) / recorded_gflops
        best_again = int(np.argmax(mean))
        entry = {"log": path, "task": f"{task.name} {task.args}", "top": top,
                 "recorded_gflops": (recorded_gflops / 1e9).tolist(), "remeasured_gflops": (again / 1e9).tolist(),
                 "median_cv_between_rounds": float(np.median(cv)), "median_drift_vs_log": float(np.median(drift)),
                 "max_drift_vs_log": float(drift.max()), "kendall_tau_log_vs_remeasured": float(tau),
                 "log_best_remeasured_vs_remeasured_best": float(mean[0] / mean[best_again])}
        out["tasks"].append(entry)
        print(f"{os.path.basename(path)[:60]:60s} CV {entry['median_cv_between_rounds']:.3f}  drift "
              f"{entry['median_drift_vs_log']:.3f} (max {entry['max_drift_vs_log']:.3f})  tau {tau:.2f}  "
              f"log best at {entry['log_best_remeasured_vs_remeasured_best']:.3f} of re-measured best", flush=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    return 0


def trials_or_budget(values, budget):
    """Trials-to-X% of each seed; a seed that never got there counts as budget + 1."""
    return np.array([budget + 1 if v is None else v for v in values], dtype=float)


def median_trials(values, budget):
    return float(np.median(trials_or_budget(values, budget)))


def task_trials_ratios(tasks, tuner, base, budget, level="trials_to_95"):
    """Per task: median(trials of ``tuner``) / median(trials of ``base``)."""
    return [median_trials(t["tuners"][tuner][level], budget) / median_trials(t["tuners"][base][level], budget)
            for t in tasks]


def trials_ratio(tasks, tuner, base, budget, level="trials_to_95"):
    """Geometric mean over tasks of :func:`task_trials_ratios`."""
    return float(np.exp(np.mean(np.log(task_trials_ratios(tasks, tuner, base, budget, level)))))


def trials_ratio_interval(tasks, tuner, base, budget, draws=2000, seed=0, level="trials_to_95"):
    """5th and 95th percentiles of :func:`trials_ratio` when each tuner's seeds on each task are
    resampled with replacement: how far the figure could move with other seeds."""
    rng = np.random.default_rng(seed)
    per_task = [[trials_or_budget(t["tuners"][name][level], budget) for name in (tuner, base)] for t in tasks]
    ratios = []
    for _ in range(draws):
        logs = [np.log(np.median(rng.choice(a, len(a))) / np.median(rng.choice(b, len(b)))) for a, b in per_task]
        ratios.append(np.exp(np.mean(logs)))
    return float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))


def merge_results(paths):
    """Replay JSON files -> one per budget. Tasks are concatenated (e.g. one replay run per space) and
    the tuners of one task (same log) are united (e.g. baselines and ARCO replayed separately)."""
    merged = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            out = json.load(handle)
        into = merged.setdefault(out["budget"], {**out, "tasks": []})
        if into["seeds"] != out["seeds"]:
            raise SystemExit(f"{path}: {out['seeds']} seeds, other files of budget {out['budget']} have "
                             f"{into['seeds']}")
        for task in out["tasks"]:
            same = [t for t in into["tasks"] if (t["log"], t["task"]) == (task["log"], task["task"])]
            if not same:
                into["tasks"].append({**task, "tuners": dict(task["tuners"])})
                continue
            twice = set(same[0]["tuners"]) & set(task["tuners"])
            if twice:
                raise SystemExit(f"{path}: tuner(s) {sorted(twice)} on {task['log']} are in two files")
            same[0]["tuners"].update(task["tuners"])
    return [merged[b] for b in sorted(merged)]


def cmd_table(args):
    """Markdown tables (and the issue's target checks) from replay JSON files."""
    for out in merge_results(args.results):
        budget, tasks = out["budget"], out["tasks"]
        if args.merged_out:
            with open(out_path(args.merged_out, budget, [budget, None]), "w", encoding="utf-8") as handle:
                json.dump(out, handle, indent=1)
        if args.plot:
            plot_curves(out, out_path(args.plot, budget, [budget, None]))
        names = [n for n in TUNERS if n in tasks[0]["tuners"]] + \
            [n for n in tasks[0]["tuners"] if n not in TUNERS]
        print(f"\n### Budget {budget}, {out['seeds']} seeds, {len(tasks)} tasks\n")
        print("Median trials to 95% of the optimum (a seed that never got there counts as budget + 1):\n")
        print_table(["task", "configs"] + names, [
            [short_task(t), t["space_size"]] + [f"{median_trials(t['tuners'][n]['trials_to_95'], budget):g}"
                                                for n in names] for t in tasks])
        print("\nMedian best GFLOPS found within the budget (optimum in the second column):\n")
        print_table(["task", "optimum"] + names, [
            [short_task(t), f"{t['optimum_gflops']:.1f}"] + [f"{np.median(t['tuners'][n]['best_gflops']):.1f}"
                                                            for n in names] for t in tasks])
        print("\nSearch seconds per trial (time inside the tuner, median over seeds):\n")
        print_table(["task"] + names, [
            [short_task(t)] + [f"{np.median(t['tuners'][n]['search_seconds']) / budget:.4f}" for n in names]
            for t in tasks])
        print("\nSeeds whose best is within 2% of the optimum at the budget:\n")
        print_table(["task"] + names, [
            [short_task(t)] + [f"{sum(g >= 0.98 * t['optimum_gflops'] for g in t['tuners'][n]['best_gflops'])}"
                               f"/{len(t['tuners'][n]['best_gflops'])}" for n in names] for t in tasks])
        engine = [n for n in names if "walk_share" in tasks[0]["tuners"][n]]
        if engine:
            print("\nARCO's engine: median share of measurements only the agents' walks reached / median policy "
                  "entropy relative to a uniform policy in the last round before the budget:\n")
            print_table(["task"] + engine, [
                [short_task(t)] + [f"{np.median(t['tuners'][n]['walk_share']):.2f} / {final_entropy(t['tuners'][n])}"
                                   for n in engine] for t in tasks])
        if "arco" in names:
            print()
            for base in ("arco_noagents", "arco_frozen", "xgb", "xgb8", "chameleon"):
                if base not in names:
                    continue
                worst = max(task_trials_ratios(tasks, "arco", base, budget))
                low, high = trials_ratio_interval(tasks, "arco", base, budget)
                print(f"- trials to 95%, ARCO / {base}: geometric mean {trials_ratio(tasks, 'arco', base, budget):.2f}x "
                      f"(seeds resampled: 90% of draws in {low:.2f}-{high:.2f}x), worst task {worst:.2f}x")
                best_ok = sum(np.median(t["tuners"]["arco"]["best_gflops"])
                              >= np.median(t["tuners"][base]["best_gflops"]) for t in tasks)
                print(f"- best GFLOPS, ARCO >= {base} (medians) on {best_ok} of {len(tasks)} tasks")
            for base in ("xgb", "xgb8"):
                if base in names:
                    per_trial = [np.median(t["tuners"]["arco"]["search_seconds"])
                                 / max(np.median(t["tuners"][base]["search_seconds"]), 1e-9) for t in tasks]
                    print(f"- search seconds, ARCO / {base}: median over tasks {np.median(per_trial):.2f}x, "
                          f"worst {max(per_trial):.2f}x")
    return 0


def final_entropy(stats):
    """Median over seeds of the entropy ratio of each run's last round ('-' if no round had agents)."""
    last = [rounds[-1][1] for rounds in stats.get("entropy_per_round", []) if rounds]
    return f"{np.median(last):.2f}" if last else "-"


def print_table(header, rows):
    print("| " + " | ".join(map(str, header)) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


def short_task(task):
    log = task.get("log")
    return os.path.splitext(os.path.basename(log))[0] if log else task["task"][:40]


def plot_curves(out, path):
    """Best-so-far GFLOPS against trials: median and inter-quartile band over seeds, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = out["tasks"]
    cols = min(3, len(tasks))
    rows = (len(tasks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for name, stats in task["tuners"].items():
            curves = [curve_of_steps(steps) for steps in stats["best_steps"] if steps]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            padded = np.array([np.pad(c, (0, length - len(c)), mode="edge") for c in curves])
            x = np.arange(1, length + 1)
            ax.plot(x, np.median(padded, axis=0), label=name)
            ax.fill_between(x, np.percentile(padded, 25, axis=0), np.percentile(padded, 75, axis=0), alpha=0.2)
        ax.axhline(task["optimum_gflops"], color="k", lw=0.8, ls="--")
        # The race that matters happens near the optimum; slow starters leave the frame from below.
        ax.set_ylim(0.5 * task["optimum_gflops"], 1.02 * task["optimum_gflops"])
        ax.set_title(f"{short_task(task)}: {task['task']}"[:70] if task.get("log") else task["task"][:70],
                     fontsize=7)
        ax.set_xlabel("trials")
        ax.set_ylabel("best GFLOPS so far")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tvm_arco_plugin.bench")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="measure every config of tasks into AutoTVM logs (resumable)")
    rec.add_argument("--network", choices=sorted(NETWORKS), default="resnet18")
    rec.add_argument("--tasks", help="comma-separated task indexes of the network (default: all)")
    rec.add_argument("--template", help="an AutoTVM template name instead of a network, e.g. arco/matmul_large")
    rec.add_argument("--args", default="128,128,128", help="template shape arguments (with --template)")
    rec.add_argument("--out-dir", default="benchmarks/spaces")
    add_measure_options(rec)
    rep = sub.add_parser("replay", help="replay tuners on fully recorded spaces")
    rep.add_argument("logs", nargs="+")
    rep.add_argument("--tuners", default="arco,xgb,xgb8,ga,random")
    rep.add_argument("--budget", default="64", help="trials per run; a comma list (64,128,256) replays the largest "
                     "once per seed and writes one JSON per budget (OUT_<budget>.json) from its prefixes")
    rep.add_argument("--seeds", type=int, default=3)
    rep.add_argument("--batch", type=int, default=8, help="measurements per tune() batch (builder n_parallel)")
    rep.add_argument("--threads", type=int, help="XGBoost threads of the model-based tuners (default: XGBoost's)")
    rep.add_argument("--out", default="results.json")
    rep.add_argument("--plot")
    rep.add_argument("--import", dest="import_files", action="append", metavar="FILE.py")
    live = sub.add_parser("live", help="tune network tasks or large TOPI workloads for real (LocalBuilder/Runner)")
    live.add_argument("--network", choices=sorted(NETWORKS), default="resnet18")
    live.add_argument("--tasks", default="0,12", help="comma-separated task indexes of the network")
    live.add_argument("--workloads", help=f"instead of --network: comma list of {','.join(LARGE_CPU_WORKLOADS)}")
    live.add_argument("--features", help="cost-model features of XGBTuner and CHAMELEON (default itervar)")
    live.add_argument("--log-dir", help="write each run's AutoTVM log there")
    live.add_argument("--reference", action="append", metavar="LOG", help="AutoTVM logs (e.g. one long run) whose "
                      "best record of each task counts in the reference optimum")
    live.add_argument("--tuners", default="arco,xgb")
    live.add_argument("--budget", default="64")
    live.add_argument("--seeds", type=int, default=3)
    live.add_argument("--first-seed", type=int, default=0, help="run seeds FIRST_SEED .. FIRST_SEED + SEEDS - 1 "
                      "(more seeds of an earlier run, logged beside its own)")
    add_measure_options(live)
    live.add_argument("--out", default="live.json")
    live.add_argument("--plot")
    noise = sub.add_parser("noise", help="re-measure the best configs of recorded logs and report the spread")
    noise.add_argument("logs", nargs="+")
    noise.add_argument("--top", type=int, default=20)
    noise.add_argument("--rounds", type=int, default=3)
    add_measure_options(noise)
    noise.add_argument("--out", default="noise.json")
    table = sub.add_parser("table", help="markdown tables and target checks from replay JSON files")
    table.add_argument("results", nargs="+", help="replay JSON files (files of the same budget are merged)")
    table.add_argument("--merged-out", help="also write the merged JSON (one per budget: PATH_<budget>.json)")
    table.add_argument("--plot", help="also draw the merged curves (one PNG per budget: PATH_<budget>.png)")
    args = parser.parse_args(argv)
    commands = {"record": cmd_record, "replay": cmd_replay, "live": cmd_live, "noise": cmd_noise, "table": cmd_table}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
