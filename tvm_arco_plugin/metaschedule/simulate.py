"""Simulated measurements for MetaSchedule: run times answered by a model of one workload's measured records.

    builder, runner = simulated_measurement(["priors/resnet18_conv2d_14"], mod, target)
    ms.tune_tir(mod, target, work_dir, max_trials_global=64, builder=builder, runner=runner, ...)

On this shared 2-core machine one schedule's run time moves by up to 1.5x between timings, and a live
64-trial run takes minutes, so three live seeds cannot tell two strategies apart by a few percent. A
simulated run replaces the build and the timing: MetaSchedule's ``XGBModel`` is trained on the records
of an earlier tune of the same workload (e.g. 320 random schedules timed on this machine), and every
candidate's run time is the best record's divided by the model's predicted throughput, relative to that
record. The answer is deterministic, so runs differ only by the strategies' own choices, and many seeds
are cheap. It is a landscape learnt from real timings, not the real one: a strategy that exploits the
model where it extrapolates is rewarded here and not on the machine. So simulated results choose
between variants of a strategy; the issue's verdicts come from live runs.

Everything else (task scheduler, database, the strategies' own cost models) is MetaSchedule's, as in a
live tune; the builder does not compile, it passes the predicted run time to the runner in the
artifact's file name.
"""
import os
import tempfile

from ._tvm import require_metaschedule

MIN_SCORE = 1e-3  # a predicted throughput at or below zero becomes 1000x slower than the best record


def simulated_measurement(work_dirs, mod, target, seed=0):
    """(builder, runner) that answer every candidate of ``mod`` with a run time predicted from the
    records of ``mod`` in the JSON databases in ``work_dirs``. ValueError (one line) when they hold none."""
    import numpy as np
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerResult
    from tvm.s_tir.meta_schedule.utils import shash2hex
    from tvm.s_tir.schedule import Schedule

    from .prior import _context, _measured_records, _replayed
    from .strategy import measure_candidate, run_seconds, seeded_xgb_model

    _, ms = require_metaschedule()
    key = shash2hex(mod)
    records = [r for d in work_dirs for r in _measured_records(ms, d) if shash2hex(r.workload.mod) == key]
    if not records:
        raise ValueError(f"{', '.join(work_dirs)}: no measured record of this workload to simulate it from")
    candidates, results, _ = _replayed(ms, mod, records)
    model = seeded_xgb_model(seed)
    context = _context(ms, mod, target)
    model.update(context, candidates, results)
    best_seconds = min(run_seconds(r) for r in records)

    @derived_object
    class SimulatedBuilder(PyBuilder):
        def build(self, build_inputs):
            schedules = [measure_candidate(Schedule(b.mod)) for b in build_inputs]
            scores = np.maximum(np.asarray(model.predict(context, schedules), dtype=np.float64), MIN_SCORE)
            # A folder of its own per artifact: MetaSchedule's default measure callbacks delete it after the run.
            folders = [tempfile.mkdtemp(prefix="arco-simulated-") for _ in scores]
            return [BuilderResult(os.path.join(folder, repr(float(best_seconds / score))), None)
                    for folder, score in zip(folders, scores)]

    @derived_object
    class Answered(PyRunnerFuture):
        def __init__(self, seconds):
            super().__init__()
            self.seconds = seconds

        def done(self):
            return True

        def result(self):
            return RunnerResult([self.seconds], None)

    @derived_object
    class SimulatedRunner(PyRunner):
        def run(self, runner_inputs):
            return [Answered(float(os.path.basename(r.artifact_path))) for r in runner_inputs]

    return SimulatedBuilder(), SimulatedRunner()
