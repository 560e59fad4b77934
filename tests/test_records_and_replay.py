"""Log reading that survives bad lines, and replay through AutoTVM's Builder/Runner interface."""
import logging

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
