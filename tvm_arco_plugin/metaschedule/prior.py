"""Prior knowledge for a tune: MetaSchedule's XGBoost cost model trained on earlier tunes' records.

    from tvm_arco_plugin.metaschedule.prior import cost_model_from_databases
    model = cost_model_from_databases(["work_dir_of_layer_1", "work_dir_of_layer_2"], target)
    ms.tune_tir(mod, target, work_dir, max_trials_global=64, cost_model=model,
                strategy=ARCOSearchStrategy(seed=0), builder=local_builder())

MetaSchedule's features describe a schedule's loops and memory accesses, not its workload, so a
model trained on other layers' measurements on the same machine ranks a new layer's schedules before
the new layer has any (docs/metaschedule.md, "Prior knowledge from earlier tunes"). The model is
MetaSchedule's own ``XGBModel``, each workload a group of its own (run times are compared only within
a workload), so any search strategy can use it; ``ARCOSearchStrategy`` follows it from its first batch.

Recording a database to learn from, e.g. random schedules of another layer:

    python -m tvm_arco_plugin.metaschedule.prior --workload resnet18_conv2d_28 --trials 256 \\
        --seed 7 --work-dir priors/resnet18_conv2d_28
"""
import argparse
import logging
import os
import sys

from ._tvm import require_metaschedule

logger = logging.getLogger(__name__)


def _context(ms, mod, target):
    return ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply",
                          search_strategy="replay-trace", task_name="prior", num_threads=1).clone()


def cost_model_from_databases(work_dirs, target, exclude=(), seed=0, num_warmup_samples=0):
    """An ``XGBModel`` updated with every measured record of the JSON databases in ``work_dirs``.

    ``num_warmup_samples``: 0 (not XGBModel's 100) so that the model predicts from the first trial on:
    the earlier records are its warm-up. ``exclude``: IRModules whose records are left out (the workload about to be tuned, so that a
    benchmark cannot learn its answer). ValueError, one line, if a folder holds no database or no
    record could be used. Records whose trace no longer replays are skipped with one warning."""
    tvm, ms = require_metaschedule()
    from tvm.s_tir.meta_schedule.utils import shash2hex  # XGBModel's own grouping key
    from tvm.s_tir.schedule import Schedule

    from .strategy import measure_candidate, run_seconds

    excluded = {shash2hex(mod) for mod in exclude}
    model = ms.cost_model.XGBModel(num_warmup_samples=num_warmup_samples,
                                   config=ms.cost_model.xgb_model.XGBConfig(seed=seed))
    used, skipped = 0, 0
    for work_dir in work_dirs:
        if not os.path.isfile(os.path.join(work_dir, "database_tuning_record.json")):
            raise ValueError(f"{work_dir} holds no MetaSchedule JSON database (database_tuning_record.json)")
        database = ms.database.JSONDatabase(work_dir=work_dir)
        by_workload = {}
        for record in database.get_all_tuning_records():
            mod = record.workload.mod
            if shash2hex(mod) in excluded or run_seconds(record) is None:
                continue
            by_workload.setdefault(shash2hex(mod), (mod, []))[1].append(record)
        for mod, records in by_workload.values():
            candidates, results = [], []
            for record in records:
                sch = Schedule(mod)
                try:
                    record.trace.apply_to_schedule(sch, remove_postproc=False)
                except tvm.TVMError:
                    skipped += 1
                    continue
                candidates.append(measure_candidate(sch))
                results.append(ms.runner.RunnerResult(run_secs=record.run_secs, error_msg=None))
            if candidates:
                model.update(_context(ms, mod, target), candidates, results)
                used += len(candidates)
    if skipped:
        logger.warning("prior: %d record(s) whose trace does not replay were skipped", skipped)
    if not used:
        raise ValueError(f"no measured record of another workload in {', '.join(work_dirs)}")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description="Record random schedules of a workload (MetaSchedule's "
                                                 "replay-trace strategy, real measurements) as prior data.")
    parser.add_argument("--workload", required=True)
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args(argv)
    from .builder import local_builder
    from .workloads import default_target, workload

    try:
        mod = workload(args.workload)
    except ValueError as err:
        parser.error(str(err))
    _, ms = require_metaschedule()
    builder = local_builder()
    try:
        ms.tune_tir(mod, default_target(), args.work_dir, max_trials_global=args.trials, num_trials_per_iter=64,
                    strategy="replay-trace", builder=builder, seed=args.seed)
    finally:
        builder.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
