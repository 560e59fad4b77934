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

GOOD_LINES = open(MATMUL_128_LOG, encoding="utf-8").read().splitlines()
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
