"""The benchmark's verdict on #13's targets, from runs written the way bench.run_one writes them."""
import json

import pytest

from tvm_arco_plugin.metaschedule.bench import host_cpu, main, targets


def _run(strategy, workload, seed, curve, seconds):
    return {"workload": workload, "strategy": strategy, "seed": seed, "budget": len(curve),
            "best_gflops_curve": curve, "strategy_seconds": seconds}


def test_targets_count_a_run_that_never_reaches_the_reference_as_the_whole_budget():
    budget = 8
    runs = [
        _run("arco", "a", 0, [1, 5, 5, 5, 5, 5, 5, 5], 1.6),          # reaches 5 at trial 2
        _run("evolutionary", "a", 0, [1, 1, 1, 1, 1, 1, 1, 5], 0.8),
        _run("arco", "b", 0, [2, 2, 2, 2, 2, 2, 2, 2], 3.0),          # never reaches 4
        _run("evolutionary", "b", 0, [1, 1, 1, 1, 1, 1, 4, 4], 1.0),
        _run("arco", "c", 1, [1] * budget, 1.0),                      # no reference run for seed 1: left out
    ]
    verdict = targets(runs, budget=budget, early=4)
    assert verdict["pairs"] == [["a", 0], ["b", 0]]
    reach = verdict["trials_to_reference_best"]
    assert reach["trials"] == [2, None] and reach["reached"] == 1
    assert abs(reach["geomean_share"] - (2 / 8 * 1.0) ** 0.5) < 1e-12
    assert reach["bounded"] and not reach["met"]
    early = verdict["best_at_4"]
    assert early["per_workload"]["a"]["met"] and early["per_workload"]["b"]["met"] and early["met"]
    assert early["runs_at_least_reference"] == 2
    ratios = verdict["strategy_time_ratio"]["per_workload"]
    assert abs(ratios["a"] - 2.0) < 1e-12 and abs(ratios["b"] - 3.0) < 1e-12
    assert not verdict["strategy_time_ratio"]["met"]


def test_targets_are_met_only_when_every_run_reaches_the_reference_in_half_the_trials():
    budget = 8
    runs = [_run("arco", w, 0, [3] * budget, 1.0) for w in "ab"]
    runs += [_run("evolutionary", w, 0, [1, 1, 1, 1, 1, 1, 1, 3], 1.0) for w in "ab"]
    reach = targets(runs, budget=budget, early=4)["trials_to_reference_best"]
    assert reach["trials"] == [1, 1] and reach["met"] and not reach["bounded"]
    assert targets(runs[:2], budget=budget) == {}  # no reference runs: no verdict
    # The same verdict for a variant of ARCO checked under its own name (bench --challenger).
    variant = [dict(run, strategy="arco_lategenerations") for run in runs[:2]] + runs[2:]
    assert targets(variant, challenger="arco_lategenerations", budget=budget, early=4)["trials_to_reference_best"] == reach


def test_targets_at_a_budget_below_the_runs_length_count_a_later_reach_as_a_miss():
    """Runs of 16 trials judged at 8 (e.g. 1024-trial runs read at 256): reaching the reference's best at 8
    only after trial 8 is a miss, not a share above 1."""
    runs = [_run("arco", "a", 0, [1] * 10 + [5] * 6, 1.0), _run("evolutionary", "a", 0, [1] * 7 + [5] * 9, 1.0)]
    reach = targets(runs, budget=8, early=4)["trials_to_reference_best"]
    assert reach["trials"] == [None] and reach["reached"] == 0 and reach["geomean_share"] == 1.0
    assert targets(runs, budget=16, early=4)["trials_to_reference_best"]["trials"] == [11]


def test_a_results_file_of_another_cpu_is_refused_before_any_run_and_left_as_it_was(tmp_path, capsys):
    path = tmp_path / "ms_bench.json"
    text = json.dumps({"cpu": "not-" + host_cpu(), "runs": [_run("arco", "matmul_512", 0, [1.0], 1.0)]})
    path.write_text(text)
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--workloads", "matmul_512", "--strategies", "arco", "--seeds", "1"])
    assert "not comparable" in capsys.readouterr().err
    assert path.read_text() == text
    path.write_text("{not json")
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--workloads", "matmul_512", "--strategies", "arco", "--seeds", "1"])
    assert "not a results file" in capsys.readouterr().err


def test_simulated_and_live_runs_are_never_mixed_in_one_file(tmp_path, capsys):
    path = tmp_path / "ms_bench.json"
    text = json.dumps({"cpu": host_cpu(), "runs": [_run("arco", "matmul_512", 0, [1.0], 1.0)]})  # a live run
    path.write_text(text)
    database = tmp_path / "records"
    database.mkdir()
    (database / "database_tuning_record.json").write_text("")
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--workloads", "matmul_512", "--strategies", "arco", "--seeds", "1",
              "--simulate", str(database)])
    assert "another --simulate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--simulate", str(tmp_path / "nothing")])
    assert "--simulate: no MetaSchedule JSON database" in capsys.readouterr().err
    assert path.read_text() == text


def test_runs_timed_with_another_runner_repeat_are_never_mixed_in_one_file(tmp_path, capsys):
    path = tmp_path / "ms_bench.json"
    text = json.dumps({"cpu": host_cpu(), "runs": [_run("arco", "matmul_512", 0, [1.0], 1.0)]})  # repeat 1
    path.write_text(text)
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--workloads", "matmul_512", "--strategies", "arco", "--seeds", "1",
              "--runner-repeat", "3"])
    assert "another --runner-repeat" in capsys.readouterr().err
    assert path.read_text() == text


def test_runs_whose_prior_retrained_otherwise_are_never_mixed_in_one_file(tmp_path, capsys):
    path = tmp_path / "ms_bench.json"
    database = tmp_path / "records"
    database.mkdir()
    (database / "database_tuning_record.json").write_text("")
    run = dict(_run("arco", "matmul_512", 0, [1.0], 1.0), prior=[str(database)])  # prior, not retrained
    text = json.dumps({"cpu": host_cpu(), "runs": [run]})
    path.write_text(text)
    with pytest.raises(SystemExit):
        main(["--out", str(path), "--workloads", "matmul_512", "--strategies", "arco", "--seeds", "1",
              "--prior", str(database), "--retrain-prior"])
    assert "retrained otherwise" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "other.json"), "--retrain-prior"])
    assert "--retrain-prior needs --prior" in capsys.readouterr().err
    assert path.read_text() == text
