"""Re-timing the benchmark's best schedules together, so that two strategies' bests are compared on
the same machine state rather than on each one's luckiest single timing.

Why: one schedule's speed, as MetaSchedule's ``LocalRunner`` times it, moves by 1.3-2.1x between
timings on the 2-core hosts of this project (docs/benchmarks.md, "Timing noise"), and slow and fast
spells of the machine last longer than one timing. A run's "best so far" is the best single timing of
its schedules, so it rewards luck, and two runs made minutes apart meet different spells. Here the
schedules a run would deploy are built once and timed in rounds, every round over every run's
schedules of one workload and seed in a seeded random order, and each schedule's speed is its median
over the rounds.

A run keeps (``kept_schedules``), for every checkpoint (e.g. 64, 128 and 256 trials), the ``top``
fastest schedules measured up to it, as serialized traces. ``retime`` gives, per run and checkpoint:

- ``top1``: the re-timed speed of the run's recorded best, the schedule ``compile_tir`` would deploy;
- ``best_of_top``: the fastest of its ``top`` recorded bests, re-timed (what re-timing them would pick);
- per round, ``best_of_top`` within that round alone (for paired counts between strategies).
"""
import numpy as np

from ._tvm import require_metaschedule


def checkpoints_for(budget, checkpoints=(64, 128, 256)):
    """The checkpoints a run of ``budget`` trials reaches, half the budget (the trials target) and the
    budget itself."""
    return sorted({c for c in checkpoints if c <= budget} | {budget // 2, budget} - {0})


def chosen_trials(seconds, checkpoints, top):
    """{checkpoint: trial indexes of the ``top`` fastest measured among the first ``checkpoint`` trials},
    fastest first; ``seconds`` in measurement order, None for a failed trial."""
    chosen = {}
    for checkpoint in checkpoints:
        measured = [(sec, i) for i, sec in enumerate(seconds[:checkpoint]) if sec is not None]
        chosen[checkpoint] = [i for _, i in sorted(measured)[:top]]
    return chosen


def kept_schedules(seconds, traces, checkpoints, top):
    """What a run keeps for re-timing: its chosen trials' traces (``traces[i]``, a MetaSchedule Trace of
    trial ``i``), serialized, and which trials each checkpoint chose."""
    tvm, _ = require_metaschedule()
    chosen = chosen_trials(seconds, checkpoints, top)
    trials = sorted({i for picked in chosen.values() for i in picked})
    return {"top": top, "chosen": {str(c): picked for c, picked in chosen.items()},
            "traces": {str(i): tvm.ir.save_json(traces[i].as_json(remove_postproc=False)) for i in trials}}


def build_once(candidates, target, builder=None):
    """BuilderResults of the MeasureCandidates, in order, built for ``target`` (one Target, or a list
    of one per candidate) by ``builder`` (by default a ``local_builder()`` started and stopped here)."""
    _, ms = require_metaschedule()
    from .builder import local_builder

    own_builder = builder is None
    builder = builder or local_builder()
    try:
        targets = target if isinstance(target, (list, tuple)) else [target] * len(candidates)
        return builder.build([ms.builder.BuilderInput(c.sch.mod, t) for c, t in zip(candidates, targets)])
    finally:
        if own_builder:
            builder.shutdown()


def time_in_rounds(built, candidates, rounds, runner=None, order_rng=None):
    """Times every built candidate once per round with ``runner`` (MetaSchedule's default
    ``LocalRunner``), each round over all of them, so that a slow spell of the machine touches every
    candidate alike; ``order_rng`` (a NumPy Generator) shuffles each round's order, else it is the
    given one. Returns (seconds: array candidates x rounds, NaN where a timing failed; the failed
    timings' last error lines)."""
    _, ms = require_metaschedule()
    from .strategy import run_seconds

    runner = runner or ms.runner.LocalRunner()
    seconds = np.full((len(candidates), rounds), np.nan)
    errors = []
    for round_ in range(rounds):
        order = order_rng.permutation(len(candidates)) if order_rng is not None else np.arange(len(candidates))
        inputs = [ms.runner.RunnerInput(built[i].artifact_path, "cpu", candidates[i].args_info) for i in order]
        for i, future in zip(order, runner.run(inputs)):
            outcome = future.result()
            sec = run_seconds(outcome)
            if sec is None:
                errors.append((outcome.error_msg or "no run time").strip().splitlines()[-1])
            else:
                seconds[i, round_] = sec
    return seconds, errors


def retime(mod, runs, rounds, seed=0, builder=None, runner=None):
    """Re-times the kept schedules of ``runs`` (benchmark runs of ``mod``, each with ``"kept"`` from
    ``kept_schedules``) in ``rounds`` rounds; returns one result per run (module docstring).
    ValueError (one line) when a kept trace no longer replays on ``mod`` or a schedule fails to build."""
    tvm, _ = require_metaschedule()
    from tvm.s_tir.schedule import Schedule, Trace

    from .strategy import measure_candidate
    from .workloads import default_target

    keys, candidates = [], []
    for r, run in enumerate(runs):
        for trial, text in sorted(run["kept"]["traces"].items(), key=lambda kv: int(kv[0])):
            sch = Schedule(mod)
            try:
                Trace.apply_json_to_schedule(tvm.ir.load_json(text), sch)
            except Exception as err:  # noqa: BLE001  TVM 0.27 raises Python's errors (ScheduleError: RuntimeError)
                raise ValueError(f"trial {trial} of {run['strategy']} seed {run['seed']} no longer replays "
                                 f"on {run['workload']}: {str(err).strip().splitlines()[-1]}") from None
            keys.append((r, int(trial)))
            candidates.append(measure_candidate(sch))
    built = build_once(candidates, default_target(), builder)
    failed = [(key, b.error_msg) for key, b in zip(keys, built) if b.error_msg]
    if failed:
        (r, trial), message = failed[0]
        raise ValueError(f"{len(failed)} kept schedule(s) failed to build; first, trial {trial} of "
                         f"{runs[r]['strategy']}: {message.strip().splitlines()[0]}")
    flops = float(tvm.s_tir.analysis.estimate_tir_flops(mod))
    seconds, _ = time_in_rounds(built, candidates, rounds, runner, np.random.default_rng(seed))
    gflops = np.nan_to_num(flops / seconds / 1e9, nan=0.0)  # 0 for a timing that failed
    median = np.median(gflops, axis=1)
    row = {key: n for n, key in enumerate(keys)}
    results = []
    for r, run in enumerate(runs):
        by_checkpoint = {}
        for checkpoint, picked in run["kept"]["chosen"].items():
            if not picked:
                by_checkpoint[checkpoint] = {"top1": 0.0, "best_of_top": 0.0, "best_of_top_per_round": [0.0] * rounds}
                continue
            rows = [row[(r, trial)] for trial in picked]
            by_checkpoint[checkpoint] = {
                "top1": float(median[rows[0]]), "best_of_top": float(max(median[rows])),
                "best_of_top_per_round": [float(v) for v in gflops[rows].max(axis=0)]}
        results.append({"rounds": rounds, "seed": seed, "gflops": by_checkpoint,
                        "timings": {str(trial): [float(v) for v in gflops[n]] for n, (owner, trial) in enumerate(keys)
                                    if owner == r}})
    return results
