"""Confirm the best: re-time a tuned database's fastest schedules together and write a database in
which ``compile_tir`` deploys the one that is fastest on re-timing, not the one with the luckiest
single timing.

    python -m tvm_arco_plugin.metaschedule.confirm WORK_DIR --out CONFIRMED_DIR [--top 4] [--rounds 3]
    sch = ms.tir_integration.compile_tir(ms.database.JSONDatabase(work_dir=CONFIRMED_DIR), mod, target)

Why: MetaSchedule deploys the record with the lowest mean run time, and during a tune every
candidate is timed once, in whatever state the machine was in. On this project's 2-core hosts one
schedule's timings move by 1.3-2.1x, so the record that wins is often a lucky timing
(docs/metaschedule.md, "Confirming the best"). Here each workload's ``top`` fastest records are
built once and timed in ``rounds`` rounds, each round over all of them in a seeded random order, and
written to a new JSON database with the re-timed run times (one per round; MetaSchedule ranks by
their mean). The tuned database is left as it was: a JSON database only appends, so the lucky
records cannot be replaced in it, and it is still the one to resume tuning from.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np

from ._tvm import require_metaschedule


def best_records(database, top):
    """{workload key: (Workload, its ``top`` fastest measured records, fastest first)}."""
    _, ms = require_metaschedule()
    from tvm.s_tir.meta_schedule.utils import shash2hex

    from .strategy import run_seconds

    groups = {}
    for record in database.get_all_tuning_records():
        if run_seconds(record) is not None:
            groups.setdefault(shash2hex(record.workload.mod), (record.workload, []))[1].append(record)
    return {key: (workload, sorted(records, key=run_seconds)[:top]) for key, (workload, records) in groups.items()}


def describe(key, mod):
    """A workload as a person can tell it apart: its arguments' shapes, and its structural hash."""
    _, ms = require_metaschedule()
    args = ms.arg_info.ArgInfo.from_entry_func(mod, remove_preproc=True)
    shapes = ", ".join(f"{a.dtype}[{'x'.join(str(int(d)) for d in a.shape)}]" for a in args)
    return f"({shapes}) {key}"


def confirm_best(work_dir, out_dir, *, top=4, rounds=3, seed=0, builder=None, runner=None, warn=None):
    """Re-times the ``top`` fastest records of every workload in the JSON database in ``work_dir`` in
    ``rounds`` rounds and commits them, with their re-timed run times, to a new JSON database in
    ``out_dir``. Returns one report per workload: every candidate's recorded and re-timed (median)
    GFLOP/s, and which one MetaSchedule deployed before and deploys now. A record that no longer
    replays or fails to build is left out with a warning (``warn``, a function of the message; by
    default Python's ``warnings.warn``); ValueError (one line) when the input cannot be used, checked
    before anything is built."""
    tvm, ms = require_metaschedule()
    from .prior import has_database, replay
    from .retime import build_once, time_in_rounds
    from .strategy import measure_candidate, run_seconds
    from .workloads import default_target

    warn = warn or (lambda message: warnings.warn(message, stacklevel=3))
    if top < 1 or rounds < 1:
        raise ValueError(f"top and rounds must be at least 1, got top={top}, rounds={rounds}")
    if not has_database(work_dir):
        raise ValueError(f"{work_dir} holds no MetaSchedule JSON database (database_tuning_record.json)")
    if os.path.abspath(out_dir) == os.path.abspath(work_dir) or has_database(out_dir):
        raise ValueError(f"{out_dir} already holds a database; confirm writes a new one (give an empty folder)")
    groups = best_records(ms.database.JSONDatabase(work_dir=work_dir), top)
    if not groups:
        raise ValueError(f"{work_dir} holds no measured record to confirm")
    try:  # before anything is built, so that an unwritable folder costs nothing
        os.makedirs(out_dir, exist_ok=True)
        out = ms.database.JSONDatabase(work_dir=out_dir)
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"cannot write a database in {out_dir}: {str(err).strip().splitlines()[-1]}") from None

    entries, candidates = [], []  # entries[i]: (workload key, rank in its records, record) of candidates[i]
    for key, (workload, records) in groups.items():
        for rank, record in enumerate(records):
            sch, error = replay(workload.mod, record.trace)
            if error:
                warn(f"confirm: a record of workload {key} no longer replays, left out: {error}")
                continue
            entries.append((key, rank, record))
            candidates.append(measure_candidate(sch))
    built = build_once(candidates, [record.target or default_target() for _, _, record in entries],
                       builder) if candidates else []
    for (key, _, _), result in zip(entries, built):
        if result.error_msg:
            warn(f"confirm: a record of workload {key} failed to build, left out: "
                 f"{result.error_msg.strip().splitlines()[0]}")
    usable = [i for i, result in enumerate(built) if not result.error_msg]
    seconds = np.full((len(entries), rounds), np.nan)
    if usable:
        timed, errors = time_in_rounds([built[i] for i in usable], [candidates[i] for i in usable], rounds,
                                       runner, np.random.default_rng(seed))
        seconds[usable] = timed
        for error in errors:
            warn(f"confirm: a timing failed: {error}")

    reports = []
    for key, (workload, records) in groups.items():
        flops = float(tvm.s_tir.analysis.estimate_tir_flops(workload.mod))
        rows = [i for i, (owner, _, _) in enumerate(entries) if owner == key]
        committed = out.commit_workload(workload.mod)
        # MetaSchedule deployed its fastest record (rank 0) unless that one no longer replays here.
        report = {"workload": describe(key, workload.mod), "candidates": [], "deployed_now": None,
                  "deployed_before": 0 if rows and entries[rows[0]][1] == 0 else None}
        for i in rows:
            record = entries[i][2]
            timings = [float(s) for s in seconds[i] if not np.isnan(s)]
            report["candidates"].append({
                "recorded_gflops": flops / run_seconds(record) / 1e9,
                "retimed_gflops": flops / float(np.median(timings)) / 1e9 if timings else 0.0,
                "timings_gflops": [flops / s / 1e9 for s in timings]})
            if timings:
                out.commit_tuning_record(ms.database.TuningRecord(
                    record.trace, committed, run_secs=timings, target=record.target, args_info=record.args_info))
        timed = [i for i in rows if not np.isnan(seconds[i]).all()]
        if timed:  # MetaSchedule's pick: the lowest mean run time
            report["deployed_now"] = rows.index(min(timed, key=lambda i: np.nanmean(seconds[i])))
        else:
            warn(f"confirm: no schedule of workload {key} could be re-timed; {out_dir} has no record of it")
        reports.append(report)
    return reports


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", help="the tune's work_dir (its JSON database)")
    parser.add_argument("--out", required=True, help="an empty folder for the confirmed database")
    parser.add_argument("--top", type=int, default=4, help="records re-timed per workload (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="timings of each (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the order of each round")
    parser.add_argument("--report", help="also write the per-workload report as JSON to this file")
    args = parser.parse_args(argv)
    try:
        reports = confirm_best(args.work_dir, args.out, top=args.top, rounds=args.rounds, seed=args.seed,
                               warn=lambda message: print(message, file=sys.stderr))
    except ValueError as err:
        parser.error(str(err))
    for report in reports:
        print(f"workload {report['workload']}: recorded -> re-timed GFLOP/s (median of {args.rounds})")
        for n, candidate in enumerate(report["candidates"]):
            marks = ("  deployed before" if n == report["deployed_before"] else "") + (
                "  deployed now" if n == report["deployed_now"] else "")
            print(f"  {candidate['recorded_gflops']:8.1f} -> {candidate['retimed_gflops']:8.1f}{marks}")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({"work_dir": args.work_dir, "out": args.out, "top": args.top, "rounds": args.rounds,
                       "seed": args.seed, "workloads": reports}, f, indent=1)
    print(f"confirmed database: {args.out} (compile_tir with ms.database.JSONDatabase(work_dir={args.out!r}))")
    return 0 if all(r["deployed_now"] is not None for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
