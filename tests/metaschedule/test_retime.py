"""Re-timing the benchmark's best schedules (retime.py), on real schedules built and timed by apache-tvm."""
import json

import pytest

from tvm_arco_plugin.metaschedule.bench import main, targets
from tvm_arco_plugin.metaschedule.retime import checkpoints_for, chosen_trials


def test_each_checkpoint_keeps_the_fastest_trials_measured_up_to_it():
    seconds = [3.0, None, 1.0, 2.0, 0.5]  # None: a failed trial
    assert chosen_trials(seconds, [2, 4, 5], top=2) == {2: [0], 4: [2, 3], 5: [4, 2]}
    assert checkpoints_for(256) == [64, 128, 256]
    assert checkpoints_for(100) == [50, 64, 100]


def _retimed(top1_half, top1_budget, top1_early, rounds_early):
    return {"gflops": {"32": {"top1": top1_half}, "64": {"top1": top1_budget},
                       "16": {"top1": top1_early, "best_of_top_per_round": rounds_early}}}


def test_the_retimed_targets_compare_the_deployed_schedules_of_paired_runs():
    def run(strategy, seed, retimed):
        return {"workload": "w", "strategy": strategy, "seed": seed, "budget": 64, "best_gflops_curve": [1.0] * 64,
                "strategy_seconds": 1.0, "retimed": retimed}

    runs = [run("arco", 0, _retimed(10.0, 11.0, 8.0, [8.0, 9.0])),
            run("evolutionary", 0, _retimed(9.0, 10.0, 7.0, [7.5, 9.5])),
            run("arco", 1, _retimed(9.0, 9.5, 6.0, [6.0, 6.0])),
            run("evolutionary", 1, _retimed(9.0, 9.8, 7.0, [5.0, 7.0]))]
    verdict = targets(runs, budget=64, early=16)["retimed"]
    # seed 0: 10.0 at 32 trials >= 10.0 at 64; seed 1: 9.0 < 9.8
    assert verdict["half_budget_reaches_reference"] == {"pairs": 2, "reached": 1, "met": False}
    assert verdict["best_at_16"]["per_workload"]["w"] == {"arco": 7.0, "evolutionary": 7.0, "met": True}
    assert verdict["rounds_at_least_reference_at_16"] == [2, 4]
    runs[0]["retimed"]["gflops"]["16"]["top1"] = 7.9
    assert not targets(runs, budget=64, early=16)["retimed"]["best_at_16"]["met"]


def test_a_live_benchmark_retimes_its_kept_schedules_once(tmp_path, capsys):
    path = tmp_path / "ms_bench.json"
    args = ["--workloads", "matmul_64", "--strategies", "replay-trace", "--seeds", "0", "--budget", "6",
            "--per-iter", "3", "--retime", "2", "--keep-top", "2", "--out", str(path)]
    assert main(args) == 0
    run, = json.loads(path.read_text())["runs"]
    # replay-trace measures replays of the design spaces: each trial's is recorded
    assert len(run["design_space_per_trial"]) == 6
    assert all(0 <= space < len(run["design_spaces"]) for space in run["design_space_per_trial"])
    kept, retimed = run["kept"], run["retimed"]
    assert set(kept["chosen"]) == set(retimed["gflops"]) == {"3", "6"}
    curve = run["best_gflops_curve"]
    for checkpoint, picked in kept["chosen"].items():
        assert 1 <= len(picked) <= 2 and all(trial < int(checkpoint) for trial in picked)
        # the first kept trial is the recorded best: the curve rises to its final value there
        assert curve[picked[0]] == curve[int(checkpoint) - 1] > (curve[picked[0] - 1] if picked[0] else 0.0)
        got = retimed["gflops"][checkpoint]
        assert 0.0 < got["top1"] <= got["best_of_top"] and len(got["best_of_top_per_round"]) == 2
    assert all(len(timings) == 2 and min(timings) > 0.0 for timings in retimed["timings"].values())
    assert main(args) == 0  # nothing left to run or re-time: the file keeps its timings
    assert json.loads(path.read_text())["runs"][0]["retimed"] == retimed
    # A kept trace that no longer replays: one line, before anything is built, and the run stays in the file.
    saved = json.loads(path.read_text())
    del saved["runs"][0]["retimed"]
    trial = next(iter(run["kept"]["traces"]))
    traces = saved["runs"][0]["kept"]["traces"]
    traces[trial] = traces[trial].replace('"C"', '"no_such_block"')
    path.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"bench: trial {trial} of replay-trace seed 0 no longer replays on matmul_64: ")
    assert "no_such_block" in err
    assert json.loads(path.read_text())["runs"] == saved["runs"]


def test_retiming_refuses_simulated_runs_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x.json"), "--retime", "3", "--simulate", str(tmp_path)])
    assert "cannot be used with --simulate" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
