"""Log reading that survives bad lines, and replay through AutoTVM's Builder/Runner interface."""
import logging

import numpy as np
import pytest
from tvm import autotvm

from tvm_arco_plugin.bench import load_recorded_space
from tvm_arco_plugin.records import read_records
from tvm_arco_plugin.replay import RecordedResults

from conftest import MATMUL_128_LOG, matmul_task


def test_corrupt_lines_are_skipped_with_one_warning_each(tmp_path, caplog):
    good = open(MATMUL_128_LOG, encoding="utf-8").read().splitlines()
    path = tmp_path / "mixed.log"
    bad = ["{not json", good[3][: len(good[3]) // 2], '{"v": 0.1}', "# a comment", ""]
    path.write_text("\n".join(good[:5] + bad + good[5:10]) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="autotvm"):
        records = list(read_records(str(path)))
    assert len(records) == 10
    warnings = [r for r in caplog.records if "skipping unreadable log line" in r.getMessage()]
    assert len(warnings) == 3
    assert all(str(path) in w.getMessage() for w in warnings)


def test_replay_refuses_incomplete_and_mixed_logs(tmp_path):
    lines = open(MATMUL_128_LOG, encoding="utf-8").read().splitlines()
    partial = tmp_path / "partial.log"
    partial.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="3 of 64 configs"):
        load_recorded_space(str(partial))
    mixed = tmp_path / "mixed.log"
    mixed.write_text("\n".join(lines[:5] + [lines[5].replace("[128, 128, 128", "[64, 64, 64")]) + "\n",
                     encoding="utf-8")
    with pytest.raises(ValueError, match="different tasks"):
        RecordedResults.from_log(str(mixed))


def test_replay_answers_from_the_log(recorded_matmul):
    task, option = recorded_matmul
    tuner = autotvm.tuner.GridSearchTuner(task)
    tuner.tune(n_trial=64, measure_option=option)
    recorded = RecordedResults.from_log(MATMUL_128_LOG)
    best = min((r for r in recorded.results.values() if r.error_no == 0), key=lambda r: min(r.costs))
    assert tuner.best_measure_pair[1].costs == best.costs
    assert option["runner"].requests == list(range(64))


# ---- fuzzing the log reader ---------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tvm_arco_plugin.records import records_of_tasks  # noqa: E402

from conftest import log_lines_for  # noqa: E402

GOOD_LINES = log_lines_for(matmul_task(128).target)  # the task the fuzz test tunes is built for this CPU
FOREIGN_LINE = GOOD_LINES[0].replace("[128, 128, 128", "[64, 64, 64")

good_line = st.sampled_from(GOOD_LINES).map(lambda line: ("good", line))
truncated_line = st.tuples(st.sampled_from(GOOD_LINES), st.floats(0.05, 0.95)).map(
    lambda pair: ("bad", pair[0][: int(len(pair[0]) * pair[1])]))
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on
garbage_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=LINE_BREAKS),
                       min_size=1, max_size=80).filter(lambda t: t.strip() and not t.strip().startswith("#")).map(
    lambda text: ("bad", text))
mutated_line = st.tuples(st.sampled_from(GOOD_LINES), st.integers(0, 400),
                         st.sampled_from(['"', "{", "]", "x", ","])).map(
    lambda t: ("maybe", t[0][: t[1]] + t[2] + t[0][t[1] + 1:]))
foreign_line = st.just(("foreign", FOREIGN_LINE))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(good_line, truncated_line, garbage_line, mutated_line, foreign_line), max_size=25))
def test_fuzzed_logs_never_crash_the_reader_and_lose_no_good_line(tmp_path, caplog, lines):
    path = tmp_path / "fuzz.log"
    path.write_text("\n".join(text for _, text in lines) + "\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="autotvm"):
        records = list(read_records(str(path)))
        kept = records_of_tasks(records, [matmul_task(128)], str(path))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    good = sum(kind == "good" for kind, _ in lines)
    foreign = sum(kind == "foreign" for kind, _ in lines)
    bad = sum(kind == "bad" for kind, _ in lines)
    maybe = sum(kind == "maybe" for kind, _ in lines)
    # Every good line survives; every bad line is dropped with exactly one warning; a mutated line is
    # either still a valid record or dropped with one warning; foreign-task records are read, then
    # skipped with one warning each when the tasks being tuned are known.
    assert good <= len(kept) <= good + maybe
    assert len(records) - len(kept) >= foreign
    assert len(warnings) == (len(lines) - len(records)) + (len(records) - len(kept))
    assert len(lines) - len(records) >= bad


# ---- the replay benchmark's JSON interface ------------------------------------------------------
import json  # noqa: E402

from tvm_arco_plugin import bench  # noqa: E402


def replay_json(tmp_path, name, tuners):
    out = tmp_path / f"{name}.json"
    bench.main(["replay", MATMUL_128_LOG, "--tuners", tuners, "--budget", "16,32", "--seeds", "2",
                "--out", str(out)])
    return [json.loads((tmp_path / f"{name}_{b}.json").read_text()) for b in (16, 32)]


def untimed(out):
    return [{name: {k: v for k, v in stats.items() if k != "search_seconds"} for name, stats in task["tuners"].items()}
            for task in out["tasks"]]


def test_replay_json_is_deterministic_and_merges_across_runs(tmp_path):
    at16, at32 = replay_json(tmp_path, "a", "arco,random")
    again16, again32 = replay_json(tmp_path, "b", "arco,random")
    assert untimed(at32) == untimed(again32)
    task = at32["tasks"][0]
    assert (at32["budget"], at32["seeds"], task["space_size"]) == (32, 2, 64)
    for stats in task["tuners"].values():
        assert set(stats) >= {"best_gflops", "trials_to_95", "trials_to_99", "search_seconds"}
        for seed in range(2):
            curve = bench.curve_of_steps(stats["best_steps"][seed])
            assert len(curve) == 32 and np.all(np.diff(curve) >= 0)
            assert curve[-1] == pytest.approx(stats["best_gflops"][seed], rel=1e-3)
            hit = stats["trials_to_95"][seed]
            assert hit is None or curve[hit - 1] >= 0.95 * task["optimum_gflops"] * (1 - 1e-3)
    # The 16-trial JSON is the prefix of the same runs.
    for name, stats in at16["tasks"][0]["tuners"].items():
        long_curves = [bench.curve_of_steps(s) for s in task["tuners"][name]["best_steps"]]
        assert [c[15] for c in long_curves] == pytest.approx(stats["best_gflops"], rel=1e-3)

    ga32 = replay_json(tmp_path, "c", "ga")[1]
    merged = bench.merge_results([str(tmp_path / "a_32.json"), str(tmp_path / "c_32.json")])
    assert len(merged) == 1 and len(merged[0]["tasks"]) == 1
    assert set(merged[0]["tasks"][0]["tuners"]) == {"arco", "random", "ga"}
    assert merged[0]["tasks"][0]["tuners"]["ga"] == ga32["tasks"][0]["tuners"]["ga"]
    with pytest.raises(SystemExit, match="in two files"):
        bench.merge_results([str(tmp_path / "a_32.json"), str(tmp_path / "b_32.json")])
    png = tmp_path / "curves.png"
    bench.main(["table", str(tmp_path / "a_32.json"), str(tmp_path / "c_32.json"), "--plot", str(png)])
    assert (tmp_path / "curves_32.png").stat().st_size > 10_000


def test_trials_ratio_and_its_seed_interval():
    def task(a, b):
        return {"tuners": {"arco": {"trials_to_95": a}, "xgb8": {"trials_to_95": b}}}
    steady = [task([10] * 5, [20] * 5), task([8] * 5, [8] * 5)]
    assert bench.trials_ratio(steady, "arco", "xgb8", 64) == pytest.approx(np.sqrt(0.5))
    assert bench.trials_ratio_interval(steady, "arco", "xgb8", 64) == pytest.approx((np.sqrt(0.5),) * 2)
    # A seed that never reached the level counts as budget + 1; spread seeds give a wide interval.
    noisy = [task([5, 9, 30, None, 12], [10, 11, 12, 13, 14])]
    assert bench.trials_ratio(noisy, "arco", "xgb8", 64) == pytest.approx(12 / 12)
    low, high = bench.trials_ratio_interval(noisy, "arco", "xgb8", 64)
    assert low < 0.9 and high > 1.5
    assert bench.trials_ratio_interval(noisy, "arco", "xgb8", 64) == (low, high)


def test_remeasurement_runs_the_kernel_tuning_measured():
    from tvm import autotvm

    assert not autotvm.GLOBAL_SCOPE.in_tuning
    with bench.measured_as_when_tuning():
        assert autotvm.GLOBAL_SCOPE.in_tuning
    assert not autotvm.GLOBAL_SCOPE.in_tuning
    with pytest.raises(RuntimeError):
        with bench.measured_as_when_tuning():
            raise RuntimeError("measurement failed")
    assert not autotvm.GLOBAL_SCOPE.in_tuning


# ---- records of other CPUs -------------------------------------------------------------------
from tvm_arco_plugin import ARCOTuner  # noqa: E402
from tvm_arco_plugin.replay import replay_option  # noqa: E402

TWO_CPUS = ("llvm -mtriple=x86_64-linux-gnu -mcpu=cascadelake", "llvm -mtriple=x86_64-linux-gnu -mcpu=znver3")


def another_cpu_target():
    """Whichever of TWO_CPUS is not this machine's, so a test of "another CPU's log" holds on either."""
    here = str(matmul_task(128).target.attrs["mcpu"])
    return next(t for t in TWO_CPUS if not t.endswith("-mcpu=" + here))


def test_records_resume_and_replay_with_two_cpu_targets(tmp_path, caplog):
    """Logs are keyed by target: a task built for one -mcpu takes its own records and no other's, and
    a replay (which builds nothing) proposes the same configs whatever the -mcpu. Neither CPU need be
    this machine's."""
    tasks = [matmul_task(128, target=target) for target in TWO_CPUS]
    proposals = []
    for mine, other in (tasks, tasks[::-1]):
        path = tmp_path / f"{mine.target.attrs['mcpu']}.log"
        path.write_text("\n".join(log_lines_for(mine.target)) + "\n", encoding="utf-8")
        records = list(read_records(str(path)))
        assert len(records_of_tasks(records, [mine], str(path))) == 64
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="autotvm"):
            assert records_of_tasks(records, [other], str(path)) == []
        assert sum("not a task being tuned" in r.getMessage() for r in caplog.records) == 64
        resumed, foreign = ARCOTuner(mine, seed=0), ARCOTuner(other, seed=0)
        resumed.load_history(records[:20])
        foreign.load_history(records[:20])
        assert len(resumed.xs) == 20 and foreign.xs == []
        tuner = ARCOTuner(mine, seed=3)
        option = replay_option(RecordedResults.from_log(str(path), mine), n_parallel=4)
        tuner.tune(n_trial=24, measure_option=option)
        proposals.append(list(tuner.xs))
    assert proposals[0] == proposals[1]


def test_recording_refuses_to_resume_a_log_of_another_cpu_before_measuring(tmp_path, capsys):
    from tvm_arco_plugin.recording import record_space

    mine = matmul_task(128)  # what `bench record` builds on this machine
    other = another_cpu_target()
    path = tmp_path / bench.task_file_name(mine)
    text = "\n".join(log_lines_for(other)[:10]) + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as refused:  # `bench record`'s one-line error
        bench.main(["record", "--template", "arco/matmul", "--args", "128,128,128", "--out-dir", str(tmp_path)])
    assert "not comparable" in str(refused.value) and "\n" not in str(refused.value)
    assert "recording" not in capsys.readouterr().out  # refused before measuring anything
    assert path.read_text(encoding="utf-8") == text
    path.write_text("\n".join(log_lines_for(mine.target)) + "\n", encoding="utf-8")
    assert record_space(mine, str(path), measure_option=None) == 0  # its own complete log: nothing to do


# ---- logs a killed run leaves behind -----------------------------------------------------------
from tvm_arco_plugin.records import repair_log  # noqa: E402


def _apply_history_best_reads(path, task):
    with autotvm.apply_history_best(str(path)) as dispatch:  # AutoTVM's own reader: raises on a bad line
        return dispatch.query(task.target, task.workload)


def test_repair_log_makes_a_half_written_log_readable_and_loses_nothing(tmp_path):
    task = matmul_task(128)
    lines = log_lines_for(task.target)
    path = tmp_path / "run.log"
    path.write_text("\n".join(lines[:10]) + "\n" + lines[10][:57], encoding="utf-8")  # killed mid-write
    with pytest.raises(Exception):
        _apply_history_best_reads(path, task)
    assert repair_log(str(path)) == 1
    assert path.read_text(encoding="utf-8") == "\n".join(lines[:10]) + "\n"
    assert (tmp_path / "run.log.rejected").read_text(encoding="utf-8") == lines[10][:57] + "\n"
    assert _apply_history_best_reads(path, task) is not None
    assert repair_log(str(path)) == 0  # nothing more to do: the file is left alone
    with open(path, "a", encoding="utf-8") as log:  # the next record starts a line of its own
        log.write(lines[11] + "\n")
    assert len(list(autotvm.record.load_from_file(str(path)))) == 11


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(good_line, truncated_line, garbage_line, mutated_line, st.just(("bad", ""))),
                max_size=20), st.booleans())
def test_fuzzed_logs_repaired_are_read_by_apply_history_best(tmp_path, lines, newline_at_end):
    path = tmp_path / "fuzz.log"
    for stale in (path, tmp_path / "fuzz.log.rejected"):
        if stale.exists():
            stale.unlink()
    path.write_text("\n".join(text for _, text in lines) + ("\n" if newline_at_end else ""), encoding="utf-8")
    readable = list(read_records(str(path)))
    repair_log(str(path))
    records = list(autotvm.record.load_from_file(str(path)))  # would raise on any line it cannot read
    assert len(records) == len(readable) >= sum(kind == "good" for kind, _ in lines)
    if any(r.error_no == 0 for _, r in records):
        _apply_history_best_reads(path, matmul_task(128))


# ---- measurement failures on resume --------------------------------------------------------------
from tvm.autotvm.measure import MeasureErrorNo, MeasureResult  # noqa: E402

from tvm_arco_plugin.records import settled_records  # noqa: E402


def _failed(error_no):
    return MeasureResult((1e9,), int(error_no), 0.0, 0.0)


def test_infrastructure_failures_are_measured_again_on_resume(recorded_matmul):
    task, option = recorded_matmul
    records = records_for(task)[:12]
    assert all(res.error_no == 0 for _, res in records)
    timeouts = [(inp, _failed(MeasureErrorNo.RUN_TIMEOUT)) for inp, _ in records[:3]]
    rpc_lost = [(inp, _failed(MeasureErrorNo.RUNTIME_DEVICE)) for inp, _ in records[3:5]]
    compile_error = [(inp, _failed(MeasureErrorNo.COMPILE_HOST)) for inp, _ in records[5:6]]
    twice = [(inp, _failed(MeasureErrorNo.RUN_TIMEOUT)) for inp, _ in records[6:7] * 2]
    history = timeouts + rpc_lost + compile_error + twice + records[7:]
    settled, retry = settled_records(history)
    assert sorted(inp.config.index for inp, _ in retry) == sorted(inp.config.index for inp, _ in records[:5])
    assert {inp.config.index for inp, _ in settled} == {inp.config.index for inp, _ in records[5:]}
    tuner = ARCOTuner(task, seed=0)
    tuner.load_history(history)
    assert sorted(tuner.xs) == sorted(inp.config.index for inp, _ in records[5:])
    tuner.tune(n_trial=64 - len(tuner.xs), measure_option=option)
    assert sorted(tuner.xs) == list(range(64))  # the five infrastructure failures were measured again


def records_for(task):
    """The recorded matmul results as (MeasureInput of ``task``, result), in index order."""
    recorded = RecordedResults.from_log(MATMUL_128_LOG, task).results
    return [(autotvm.MeasureInput(task.target, task, task.config_space.get(i)), recorded[i]) for i in sorted(recorded)]


# ---- the same proposals with any number of threads ---------------------------------------------
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

LARGE_SPACE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "spaces",
                           "matmul_large_256x256x256.log")


# XGBTuner's simulated annealing takes 25-30 s a run on a 2-core machine: its half is left to `make test-all`.
@pytest.mark.parametrize("tuner", ["arco", pytest.param("xgb8", marks=pytest.mark.slow)])
def test_replay_is_identical_with_one_or_two_threads(tmp_path, tuner):
    """OpenMP threads (XGBoost's training and prediction) and the cost model's num_threads change no
    proposal: per-seed results of ARCO and of XGBTuner are identical. (A space of 4,374 configs, whose
    tree-model predictions are full of ties.)"""
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}.json"
        subprocess.run([sys.executable, "-m", "tvm_arco_plugin.bench", "replay", LARGE_SPACE, "--tuners", tuner,
                        "--budget", "24", "--seeds", "1", "--threads", threads, "--out", str(out)],
                       env={**os.environ, "OMP_NUM_THREADS": threads}, check=True, capture_output=True, timeout=600)
        outs.append(json.loads(out.read_text()))
    assert untimed(outs[0]) == untimed(outs[1])
    assert all(len(steps) >= 1 for stats in untimed(outs[0])[0].values() for steps in stats["best_steps"])


def test_cost_model_metric_orders_ties_the_same_on_every_cpu():
    """patches/0002: the early-stopping metric of TVM's XGBoost cost model sorts with a stable sort.
    NumPy's default sort orders ties differently with and without AVX-512, and tree predictions tie."""
    from tvm.autotvm.tuner.metric import recall_curve
    from tvm.autotvm.tuner.xgboost_cost_model import xgb_average_recalln_curve_score

    rng = np.random.default_rng(0)
    preds = rng.integers(0, 4, 300).astype(np.float32)
    labels = rng.random(300).astype(np.float32)

    def metric(kind):
        ordered = labels[np.argsort(preds, kind=kind)[::-1]]
        order = np.argsort(-ordered, kind="stable")
        ranks = np.empty_like(order)
        ranks[order] = np.arange(len(order))
        return np.sum(recall_curve(ranks)[:32]) / 32

    assert metric("quicksort") != metric("stable")  # ties matter on this input, on any CPU
    _, value = xgb_average_recalln_curve_score(32)(preds, type("DMatrix", (), {"get_label": lambda self: labels})())
    assert value == metric("stable")


def test_noise_remeasures_with_this_machines_target_and_refuses_failures(tmp_path, capsys):
    """bench noise on a log recorded on another CPU measures code built for this one; when every
    re-measurement fails it writes nothing rather than zeros."""
    other_cpu_log = tmp_path / "matmul_128_other_cpu.log"
    other_cpu_log.write_text("\n".join(log_lines_for(another_cpu_target())) + "\n", encoding="utf-8")
    out = tmp_path / "noise.json"
    common = ["noise", str(other_cpu_log), "--top", "2", "--rounds", "1", "--number", "1", "--repeat", "1"]
    assert bench.main(common + ["--out", str(out)]) == 0
    assert "re-measured with this machine's target" in capsys.readouterr().out
    entry = json.loads(out.read_text())["tasks"][0]
    assert all(g > 0 for g in entry["remeasured_gflops"][0])
    failing = tmp_path / "failing.json"
    with pytest.raises(SystemExit, match="re-measurements failed on this machine"):
        bench.main(common + ["--timeout", "1", "--min-repeat-ms", "5000", "--out", str(failing)])
    assert not failing.exists()
