"""Re-measures, together, the best config each AutoTVM log of a ``bench live`` run had found after
given numbers of trials, so that runs made one after another (and so under a drifting machine state)
are compared on the same one.

    .venv/bin/python benchmarks/scripts/live_retime.py LOG_DIR/*.log --workload dense_pack_512 \
        --checkpoints 64,128,256 --rounds 5 --out retimed.json

Each round measures every kept config once, in an order shuffled per round (seeded); a config's
re-timed throughput is the median over rounds. A log's name gives its run (``..._<tuner>_s<seed>.log``,
as ``bench live --log-dir`` writes them). Logs of another task or target than ``--workload`` on this
machine are refused before anything is measured. Each run's trials to 95% (on its recorded curve) are
counted against two references, the optimum being unknown live: the best that any of the given logs
recorded, and the fastest of the kept configs re-timed. ``--rounds 0`` measures nothing and
reports the recorded figures only.
"""
import argparse
import json
import os
import random
import re
import sys

import numpy as np
from tvm import autotvm

from tvm_arco_plugin import host_target
from tvm_arco_plugin.bench import (LARGE_CPU_WORKLOADS, TUNERS, add_measure_options, local_measure_option,
                                   remeasure, throughput, trials_to)
from tvm_arco_plugin.records import read_records, task_key


def run_of(path):
    """(tuner, seed) from a ``bench live`` log name."""
    found = re.search(r"^(.*)_s(\d+)\.log$", os.path.basename(path))
    tuners = [name for name in TUNERS if found and found.group(1).endswith("_" + name)]
    if not tuners:
        raise SystemExit(f"{path}: not a `bench live --log-dir` log name (..._<tuner>_s<seed>.log)")
    return max(tuners, key=len), int(found.group(2))


def recorded_run(path, task):
    """(config indexes, recorded FLOP/s) of the log's records, in the order they were measured."""
    records = list(read_records(path))
    if not records or any(task_key(inp.task, inp.target) != task_key(task) for inp, _ in records):
        raise SystemExit(f"{path}: holds records of another task or target than {task.name} on {task.target}")
    return [inp.config.index for inp, _ in records], np.array([throughput(task, res) for _, res in records])


def kept_configs(indexes, flops, checkpoints):
    """{checkpoint: (config index, recorded FLOP/s)} of the best record among the first ``checkpoint``."""
    kept = {}
    for checkpoint in checkpoints:
        best = int(np.argmax(flops[:checkpoint]))
        kept[checkpoint] = (indexes[best], float(flops[best]))
    return kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--workload", required=True, choices=sorted(LARGE_CPU_WORKLOADS))
    parser.add_argument("--checkpoints", default="64,128,256")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_measure_options(parser, timeout=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    task = autotvm.task.create(*LARGE_CPU_WORKLOADS[args.workload], target=host_target())
    recorded = {path: recorded_run(path, task) for path in args.logs}
    runs = {path: (run_of(path), kept_configs(*recorded[path], checkpoints)) for path in args.logs}
    # Live, the optimum is unknown: trials to 95% count against the best any of these logs recorded.
    best_found = max(flops.max() for _, flops in recorded.values())
    indexes = sorted({index for _, kept in runs.values() for index, _ in kept.values()})

    from tvm.autotvm.measure.measure import create_measure_batch  # pylint: disable=import-outside-toplevel

    measure = create_measure_batch(task, local_measure_option(args)) if args.rounds else None
    order = random.Random(args.seed)
    timings = {index: [] for index in indexes}
    for round_number in range(args.rounds):
        shuffled = list(indexes)
        order.shuffle(shuffled)
        inputs = [autotvm.MeasureInput(task.target, task, task.config_space.get(i)) for i in shuffled]
        for index, result in zip(shuffled, remeasure(measure, inputs)):
            timings[index].append(throughput(task, result) / 1e9)
        print(f"round {round_number + 1} of {args.rounds}: {len(indexes)} configs measured", flush=True)
    del measure
    # One lucky timing can make a run's recorded best (and so best_found) an outlier; the fastest
    # config re-timed is the steadier reference.
    best_retimed = max((float(np.median(t)) for t in timings.values() if t), default=None)
    out = {"workload": args.workload, "target": str(task.target), "rounds": args.rounds,
           "best_found_gflops": best_found / 1e9, "best_retimed_gflops": best_retimed,
           "number": args.number, "repeat": args.repeat, "min_repeat_ms": args.min_repeat_ms, "runs": []}
    for path, ((tuner, seed), kept) in sorted(runs.items(), key=lambda item: item[1][0]):
        flops = recorded[path][1]
        row = {"log": path, "tuner": tuner, "seed": seed, "trials": len(flops),
               "trials_to_95_of_best_found": trials_to(flops, 0.95 * best_found),
               "trials_to_95_of_best_retimed": trials_to(flops, 0.95 * best_retimed * 1e9) if best_retimed else None,
               "checkpoints": {}}
        for checkpoint, (index, best_recorded) in kept.items():
            row["checkpoints"][str(checkpoint)] = {
                "config_index": index, "recorded_gflops": best_recorded / 1e9,
                "retimed_gflops": float(np.median(timings[index])) if timings[index] else None,
                "rounds_gflops": timings[index]}
        out["runs"].append(row)
        print(f"{tuner:16s} seed {seed}: to 95% {row['trials_to_95_of_best_found']}  " + "  ".join(
            f"at {c}: {v['recorded_gflops']:.1f} recorded, {v['retimed_gflops'] or 0:.1f} re-timed GFLOPS"
            for c, v in row["checkpoints"].items()), flush=True)
    for tuner in sorted({row["tuner"] for row in out["runs"]}):
        rows = [row for row in out["runs"] if row["tuner"] == tuner]
        # A run that never got within 95% counts as one more trial than it had, as `bench table` counts it.
        for key, reference in (("best_found", best_found / 1e9), ("best_retimed", best_retimed)):
            if reference:
                trials = [row["trials_to_95_of_" + key] or row["trials"] + 1 for row in rows]
                print(f"{tuner:16s} median trials to 95% of the {key.replace('_', ' ')} ({reference:.1f} GFLOPS): "
                      f"{np.median(trials):g} ({len(rows)} runs)", flush=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
