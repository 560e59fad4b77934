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

    python -m tvm_arco_plugin.metaschedule.prior record --workload resnet18_conv2d_28 --trials 256 \\
        --seed 7 --work-dir priors/resnet18_conv2d_28

and how well a prior ranks another workload's recorded schedules (JSON):

    python -m tvm_arco_plugin.metaschedule.prior evaluate --prior priors/resnet18_conv2d_28 \\
        --workload-db priors/resnet18_conv2d_14 --out prior_eval.json
"""
import argparse
import json
import logging
import os
import sys

from ._tvm import require_metaschedule

logger = logging.getLogger(__name__)


def _context(ms, mod, target):
    return ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply",
                          search_strategy="replay-trace", task_name="prior", num_threads=1).clone()


def replay(mod, trace):
    """(a Schedule of ``mod`` with ``trace`` applied, None), or (None, the one-line reason it no longer
    replays: a trace of another TVM, or of another workload)."""
    require_metaschedule()
    from tvm.s_tir.schedule import Schedule

    sch = Schedule(mod)
    try:
        trace.apply_to_schedule(sch, remove_postproc=False)
    except Exception as err:  # noqa: BLE001  TVM 0.27 has no tvm.TVMError; it raises Python's errors
        return None, (str(err).strip().splitlines() or [type(err).__name__])[-1]
    return sch, None


def _replayed(ms, mod, records):
    """(MeasureCandidates, RunnerResults, records skipped) of measured records: each trace replayed on
    ``mod``; a trace that no longer replays is skipped."""
    from .strategy import measure_candidate

    candidates, results, skipped = [], [], 0
    for record in records:
        sch, error = replay(mod, record.trace)
        if error:
            skipped += 1
            continue
        candidates.append(measure_candidate(sch))
        results.append(ms.runner.RunnerResult(run_secs=record.run_secs, error_msg=None))
    return candidates, results, skipped


def has_database(work_dir):
    return os.path.isfile(os.path.join(work_dir, "database_tuning_record.json"))


def _measured_records(ms, work_dir):
    from .strategy import run_seconds

    if not has_database(work_dir):
        raise ValueError(f"{work_dir} holds no MetaSchedule JSON database (database_tuning_record.json)")
    return [r for r in ms.database.JSONDatabase(work_dir=work_dir).get_all_tuning_records()
            if run_seconds(r) is not None]


def one_workloads_records(ms, work_dir):
    """(IRModule, MeasureCandidates, RunnerResults, speeds as shares of the fastest) of the measured records
    in ``work_dir``, which must all be of one workload (ValueError, one line, otherwise); records whose trace
    no longer replays are left out."""
    import numpy as np

    from .strategy import run_seconds

    records = _measured_records(ms, work_dir)
    if not records or len({str(r.workload.mod) for r in records}) != 1:
        raise ValueError(f"{work_dir} must hold measured records of exactly one workload")
    mod = records[0].workload.mod
    candidates, results, _ = _replayed(ms, mod, records)
    speed = np.array([1.0 / run_seconds(r) for r in results])
    return mod, candidates, results, speed / speed.max()


def cost_model_from_databases(work_dirs, target, exclude=(), seed=0, num_warmup_samples=0, adaptive_training=True):
    """An ``XGBModel`` updated with every measured record of the JSON databases in ``work_dirs``.

    ``num_warmup_samples``: 0 (not XGBModel's 100) so that the model predicts from the first trial on:
    the earlier records are its warm-up. ``exclude``: IRModules whose records are left out (the workload
    about to be tuned, so that a benchmark cannot learn its answer). ``adaptive_training``: XGBModel's
    own; with it on, a model of 512 earlier records is not retrained on the tuned workload's results
    before it holds about 100 of them. ValueError, one line, if a folder holds no database or no record
    could be used. Records whose trace no longer replays are skipped with one warning."""
    _, ms = require_metaschedule()
    from tvm.s_tir.meta_schedule.utils import shash2hex  # XGBModel's own grouping key

    from .strategy import seeded_xgb_model

    excluded = {shash2hex(mod) for mod in exclude}
    model = seeded_xgb_model(seed, num_warmup_samples, adaptive_training)
    used, skipped = 0, 0
    for work_dir in work_dirs:
        by_workload = {}
        for record in _measured_records(ms, work_dir):
            key = shash2hex(record.workload.mod)
            if key not in excluded:
                by_workload.setdefault(key, (record.workload.mod, []))[1].append(record)
        for mod, records in by_workload.values():
            candidates, results, failed = _replayed(ms, mod, records)
            skipped += failed
            if candidates:
                model.update(_context(ms, mod, target), candidates, results)
                used += len(candidates)
    if skipped:
        logger.warning("prior: %d record(s) whose trace does not replay were skipped", skipped)
    if not used:
        raise ValueError(f"no measured record of another workload in {', '.join(work_dirs)}")
    return model


def evaluate(prior_dirs, workload_dir, target, sizes=(0, 16, 32, 64), splits=10, top=16, seed=0,
             adaptive_training=True):
    """How well the cost model ranks one workload's recorded schedules, with and without the prior, after
    ``n`` of them (drawn at random) are measured, as a tune's model would be (``XGBModel``'s own update,
    adaptive training included unless ``adaptive_training`` is off, which it then is for the prior-trained
    model only). Per ``n``: Spearman's rank correlation on the other records, and the best of the ``top`` it
    ranks first against the best of ``top`` drawn at random, as shares of the best record."""
    import tempfile

    import numpy as np
    from scipy.stats import spearmanr

    from .strategy import seeded_xgb_model

    _, ms = require_metaschedule()
    mod, candidates, results, speed = one_workloads_records(ms, workload_dir)
    if len(candidates) < max(sizes) + top:
        raise ValueError(f"{workload_dir} has {len(candidates)} usable records; evaluating needs at least "
                         f"{max(sizes) + top} (the largest training set and {top} to rank)")
    context = _context(ms, mod, target)
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "prior.tar")
        cost_model_from_databases(prior_dirs, target, exclude=[mod], seed=seed).save(saved)
        rows = []
        for n in sizes:
            for with_prior in (True, False) if n else (True,):
                rho, ranked, drawn = [], [], []
                for split in range(splits):
                    rng = np.random.default_rng(1000 * n + split)
                    measured = rng.choice(len(candidates), n, replace=False)
                    rest = np.setdiff1d(np.arange(len(candidates)), measured)
                    model = seeded_xgb_model(seed + split)
                    if with_prior:
                        model.load(saved)
                        # As in a tune that started from the prior: load() forgets the size of the last
                        # training set, and adaptive training retrains only when the data grew by a fifth.
                        model.last_train_size = model.data_size
                        model.adaptive_training = adaptive_training
                    if n:
                        model.update(context, [candidates[i] for i in measured], [results[i] for i in measured])
                    predicted = np.asarray(model.predict(context, [candidates[i] for i in rest]))
                    rho.append(spearmanr(predicted, speed[rest]).statistic)
                    ranked.append(speed[rest][np.argsort(-predicted, kind="stable")[:top]].max())
                    drawn.append(speed[rest][rng.choice(len(rest), top, replace=False)].max())
                rows.append({"measured": n, "prior": with_prior, "spearman": float(np.mean(rho)),
                             "spearman_sd": float(np.std(rho)), f"best_of_top_{top}": float(np.mean(ranked)),
                             f"best_of_random_{top}": float(np.mean(drawn))})
    return {"workload_records": len(candidates), "prior": list(prior_dirs), "splits": splits,
            "prior_adaptive_training": adaptive_training, "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Prior data for MetaSchedule tunes: record it, or evaluate it.")
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="measure random schedules of a workload (MetaSchedule's "
                                                "replay-trace strategy) into a JSON database")
    record.add_argument("--workload", required=True)
    record.add_argument("--trials", type=int, default=256)
    record.add_argument("--seed", type=int, default=7)
    record.add_argument("--work-dir", required=True)
    check = commands.add_parser("evaluate", help="how well a prior ranks another workload's recorded schedules")
    check.add_argument("--prior", required=True, help="work dirs, comma-separated")
    check.add_argument("--workload-db", required=True, help="work dir with records of the workload to rank")
    check.add_argument("--splits", type=int, default=10)
    check.add_argument("--retrain-prior", action="store_true", help="the prior-trained model retrains at every "
                       "update (XGBModel's adaptive_training off)")
    check.add_argument("--out", required=True, help="JSON file")
    args = parser.parse_args(argv)
    from .workloads import default_target, workload

    _, ms = require_metaschedule()
    if args.command == "evaluate":
        try:
            result = evaluate(args.prior.split(","), args.workload_db, default_target(), splits=args.splits,
                              adaptive_training=not args.retrain_prior)
        except ValueError as err:
            parser.error(str(err))
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(json.dumps(result["rows"], indent=1))
        return 0
    from .builder import local_builder

    try:
        mod = workload(args.workload)
    except ValueError as err:
        parser.error(str(err))
    builder = local_builder()
    try:
        ms.tune_tir(mod, default_target(), args.work_dir, max_trials_global=args.trials, num_trials_per_iter=64,
                    strategy="replay-trace", builder=builder, seed=args.seed)
    finally:
        builder.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
