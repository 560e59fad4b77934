"""AutoTVM tuners on a simulated large space: every config's run time answered by a model of the live
logs of that space, so that many seeds are cheap and runs differ only by the tuners' own choices.

    .venv/bin/python benchmarks/scripts/live_simulated.py benchmarks/logs/live_dense_pack_512_rocketlake/*.log \
        --workload dense_pack_512 --tuners arco,arco_noagents --seeds 20 --budget 64,128,256 \
        --out benchmarks/results/sim_dense_pack_512.json

The landscape: XGBoost (regression on log throughput, the template's knob features, the features
ARCOTuner's own cost model uses) fitted on every successful record of the logs, and a classifier of
the same kind for the records that failed (build timeouts): a config it gives a failure probability
above one half fails. The whole space is predicted once, so the simulated optimum is known exactly and
trials to 95% are counted against it. Before the fit, the same model fitted without the logs of
``--holdout`` runs ranks those runs' successful records (Spearman), the figure that says how far the
landscape follows the real one. It is a landscape learnt from real timings, not the real one: a tuner
that exploits where the model extrapolates is rewarded here and not on the machine, so simulated runs
choose what is worth a live run; they decide nothing alone (docs/benchmarks.md).

Settings of the ARCO engine can be varied with ``--setting NAME=VALUE`` (a ``SearchSettings`` field, or
``ppo.NAME`` a ``PPOSettings`` field; applied to every ARCO variant in ``--tuners``): the runs are then
labelled ``<tuner>[NAME=VALUE,...]``. ``benchmarks/scripts/sim_paired.py`` compares the runs seed by seed.
"""
import argparse
import dataclasses
import os
import sys
import time

import numpy as np
from tvm import autotvm
from tvm.autotvm.measure import MeasureErrorNo, MeasureResult
from tvm.autotvm.measure.measure import Runner

from tvm_arco_plugin import bench
from live_retime import recorded_run
from tvm_arco_plugin.records import read_records
from tvm_arco_plugin.replay import ReplayBuilder, error_result
from tvm_arco_plugin.search.engine import SearchSettings
from tvm_arco_plugin.search.marl import PPOSettings


def knob_features(space, indexes):
    return np.array([space.get(int(i)).get_flatten_feature() for i in indexes], dtype=np.float32)


def read_logs(paths, task):
    """{config index: [throughputs of its records, 0 for a failure]} per log path (``live_retime.recorded_run``
    reads each and refuses logs of another task)."""
    per_log = {}
    for path in paths:
        records = {}
        for index, flops in zip(*recorded_run(path, task)):
            records.setdefault(index, []).append(float(flops))
        per_log[path] = records
    return per_log


class Landscape:
    """Predicted throughput (0: the config fails) of every config of ``space``, from measured records."""

    def __init__(self, space, records, seed=0):
        import xgboost as xgb

        indexes = np.array(sorted(records), dtype=np.int64)
        values = [np.asarray(records[i], dtype=np.float64) for i in indexes]
        works = np.array([(v > 0).any() for v in values])
        features = knob_features(space, indexes)
        log_speed = np.array([np.log(np.mean(v[v > 0])) for v, ok in zip(values, works) if ok])
        params = {"max_depth": 6, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "seed": seed,
                  "nthread": 1}
        self.speed = xgb.train(params, xgb.DMatrix(features[works], log_speed), num_boost_round=400)
        self.fails = xgb.train({**params, "objective": "binary:logistic"},
                               xgb.DMatrix(features, (~works).astype(np.float32)), num_boost_round=400) \
            if (~works).any() else None
        self.space = space

    def predict(self, indexes):
        import xgboost as xgb

        features = xgb.DMatrix(knob_features(self.space, indexes))
        speed = np.exp(self.speed.predict(features))
        if self.fails is not None:
            speed[self.fails.predict(features) > 0.5] = 0.0
        return speed


class SimulatedRunner(Runner):
    """AutoTVM Runner answering each config with the landscape's run time (deterministic)."""

    def __init__(self, throughput_of, flop, n_parallel=8):
        super().__init__(timeout=1, n_parallel=n_parallel)
        self.throughput_of, self.flop = throughput_of, flop

    def get_build_kwargs(self):
        return {}

    def run(self, measure_inputs, build_results):
        out = []
        for inp in measure_inputs:
            speed = self.throughput_of[inp.config.index]
            if speed <= 0:
                out.append(error_result("simulated build timeout", MeasureErrorNo.BUILD_TIMEOUT))
            else:
                seconds = self.flop / speed
                out.append(MeasureResult((seconds,), 0, seconds, time.time()))
        return out


def landscape_of(logs, workload, holdout=()):
    """(task, predicted throughput of every config of ``workload``'s space, facts): the landscape fitted on
    every record of ``logs``; facts: what it was fitted on, its fidelity (logs whose name contains one of
    ``holdout`` left out of a first fit, which then ranks the configs only they measured) and how many
    configs are near its optimum. Prints the facts."""
    first = next((inp for inp, _ in read_records(logs[0])), None)
    if first is None:
        raise SystemExit(f"{logs[0]}: no usable record")
    from tvm import topi  # noqa: F401  (registers TOPI's templates)

    task = autotvm.task.create(*bench.LARGE_CPU_WORKLOADS[workload], target=first.target)
    per_log = read_logs(logs, task)
    space = task.config_space
    held = [p for p in logs if any(h and h in os.path.basename(p) for h in holdout)]
    facts = {"simulated_from": [os.path.basename(p) for p in logs], "fidelity": None}
    if held and len(held) < len(logs):
        fit_records = merged(records for path, records in per_log.items() if path not in held)
        test_records = merged(records for path, records in per_log.items() if path in held)
        unseen = [i for i in test_records if i not in fit_records and max(test_records[i]) > 0]
        measured = [np.mean([v for v in test_records[i] if v > 0]) for i in unseen]
        predicted = Landscape(space, fit_records).predict(unseen)
        facts["fidelity"] = {"held_out_logs": [os.path.basename(p) for p in held], "held_out_configs": len(unseen),
                             "spearman": round(spearman(predicted, measured), 4)}
        print(f"fidelity: Spearman {facts['fidelity']['spearman']:.3f} on {len(unseen)} configs only the held-out "
              f"logs measured", flush=True)

    everything = merged(per_log.values())
    tic = time.perf_counter()
    landscape = Landscape(space, everything)
    throughput_of = np.zeros(space.range_length)
    for start in range(0, space.range_length, 20000):
        chunk = np.arange(start, min(start + 20000, space.range_length), dtype=np.int64)
        throughput_of[chunk] = landscape.predict(chunk)
    # How rare good configs are: what a random candidate pool of a given size holds near the optimum.
    facts["near_optimum"] = {str(share): int((throughput_of >= share * throughput_of.max()).sum())
                             for share in (0.9, 0.95, 0.99)}
    n_records = sum(len(v) for v in everything.values())
    n_failed = sum(sum(x <= 0 for x in v) for v in everything.values())
    print(f"fitted on {n_records} records ({n_failed} failed) of {len(everything)} configs", flush=True)
    print(f"landscape of {space.range_length} configs in {time.perf_counter() - tic:.0f} s: optimum "
          f"{throughput_of.max() / 1e9:.1f} GFLOP/s, {np.mean(throughput_of <= 0):.1%} fail, configs within "
          f"90/95/99% of the optimum {'/'.join(map(str, facts['near_optimum'].values()))}, best measured "
          f"{max(max(v) for v in everything.values()) / 1e9:.1f}", flush=True)
    return task, throughput_of, facts


def merged(per_log):
    """One {config index: [throughputs]} from several."""
    out = {}
    for records in per_log:
        for i, values in records.items():
            out.setdefault(i, []).extend(values)
    return out


def spearman(a, b):
    from scipy.stats import spearmanr  # scipy comes with xgboost

    return float(spearmanr(a, b).correlation)


def parse_settings(items):
    """{field: value} of ``SearchSettings`` from NAME=VALUE items; ``ppo.NAME`` sets a ``PPOSettings`` field."""
    changes = {}
    for item in items or ():
        name, _, text = item.partition("=")
        group, _, field = name.rpartition(".")
        owner = {"": SearchSettings, "ppo": PPOSettings}.get(group)
        fields = owner.__dataclass_fields__ if owner else {}
        if field not in fields or not text:
            raise SystemExit(f"--setting {item!r}: expected NAME=VALUE with NAME a SearchSettings field "
                             f"or ppo.NAME a PPOSettings field")
        kind = type(fields[field].default)
        changes[name] = (text.lower() in ("1", "true", "yes")) if kind is bool else kind(text)
    return changes


def with_changes(settings, changes):
    """A copy of ``settings`` (SearchSettings) with ``changes`` (from ``parse_settings``) applied."""
    ppo = dataclasses.replace(settings.ppo, **{k[4:]: v for k, v in changes.items() if k.startswith("ppo.")})
    return dataclasses.replace(settings, ppo=ppo, **{k: v for k, v in changes.items() if "." not in k})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="AutoTVM logs of the workload (bench live --log-dir)")
    parser.add_argument("--workload", required=True, choices=sorted(bench.LARGE_CPU_WORKLOADS))
    parser.add_argument("--tuners", default="arco,arco_noagents")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", default="64,128,256")
    parser.add_argument("--holdout", default="_s6,_s7", help="comma list: logs whose name contains one of "
                        "these are held out of the fidelity fit (default: seeds 6 and 7)")
    parser.add_argument("--setting", action="append",
                        help="NAME=VALUE of SearchSettings (ppo.NAME: of PPOSettings) for the ARCO variants; repeatable")
    parser.add_argument("--log-dir", help="write each run's AutoTVM log here (<tuner>_s<seed>.log)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--plot")
    args = parser.parse_args(argv)

    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    names = args.tuners.split(",")
    bench.check_tuners(names)
    changes = parse_settings(args.setting)
    task, throughput_of, facts = landscape_of(args.logs, args.workload, args.holdout.split(","))
    space = task.config_space

    variants = {name: name if not changes or not name.startswith("arco") else
                f"{name}[{','.join(f'{k}={v}' for k, v in changes.items())}]" for name in names}
    for name, label in variants.items():
        if label != name:
            settings = with_changes(bench.TUNERS[name](task, 0).search.settings, changes)
            bench.TUNERS[label] = lambda t, seed, threads=None, features=None, s=settings: bench.ARCOTuner(
                t, seed=seed, num_threads=threads, settings=s)

    budgets = bench.budgets_of(args.budget)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    entry = {"log": None, "task": f"{args.workload} (simulated): {task.name} {task.args}",
             "space_size": len(space), "optimum": float(throughput_of.max()),
             "optimum_gflops": float(throughput_of.max()) / 1e9, **facts, "settings": changes,
             "first_seed": args.first_seed, "runs": {}}
    option = {"builder": ReplayBuilder(n_parallel=8), "runner": SimulatedRunner(throughput_of, task.flop)}
    for name, label in variants.items():
        entry["runs"][label] = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            log = os.path.join(args.log_dir, f"{label}_s{seed}.log") if args.log_dir else None
            run = bench.run_tuner(task, label, budgets[-1], seed, option,
                                  lambda inp, res: bench.throughput(inp.task, res), shared_features=True, log=log)
            entry["runs"][label].append(run)
            print(f"{label} seed {seed}: best {run.flops.max() / 1e9:.2f} GFLOP/s "
                  f"({run.flops.max() / throughput_of.max():.3f} of the optimum), {run.wall_seconds:.0f} s",
                  flush=True)
    bench.write_results(args, [entry], budgets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
