"""Log reading that survives bad lines, and replay through AutoTVM's Builder/Runner interface."""
import logging
import shutil

import pytest
from tvm import autotvm

from tvm_arco_plugin.bench import load_recorded_space
from tvm_arco_plugin.records import read_records
from tvm_arco_plugin.replay import RecordedResults

from conftest import MATMUL_128_LOG


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
