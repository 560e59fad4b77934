"""Networks: ARCO under tune_relax / tune_tasks (several tasks, one shared cost model and database), and
the network benchmark's figures (metaschedule/network.py)."""
import numpy as np
import pytest

from tvm_arco_plugin.metaschedule import ARCOSearchStrategy, local_builder
from tvm_arco_plugin.metaschedule.network import (conv2d_tasks, resnet18_convolutions, retime_runs, run_one,
                                                  summarise, weighted_latency_curve)
from tvm_arco_plugin.metaschedule.workloads import default_target

from helpers import ms, tvm


def test_resnet18_has_eleven_conv2d_tasks_weighted_by_how_often_the_network_runs_them():
    tasks = conv2d_tasks(resnet18_convolutions(image=32), default_target())
    weights = sorted(int(t.weight) for t in tasks)
    # 20 convolutions: the stem, 16 in the basic blocks, 3 down-sampling; layer 1's 3x3 runs 4 times,
    # the 3x3 after each stage's first block 3 times.
    assert len(tasks) == 11 and sum(weights) == 20
    assert weights == [1] * 7 + [3, 3, 3, 4]


def test_the_weighted_latency_waits_for_every_task_then_follows_each_tasks_best():
    curve = weighted_latency_curve([0, 0, 1, 1, 0, 1], [2.0, None, 5.0, 4.0, 3.0, None], weights=[1.0, 3.0])
    assert curve == [None, None, 17.0, 14.0, 14.0, 14.0]


def test_the_summary_counts_the_trials_to_evolutionary_searchs_latency_at_the_budget():
    def run(strategy, curve, strategy_seconds, seed=0):
        return {"strategy": strategy, "seed": seed, "trials_per_task": 2, "tasks": ["a", "b"],
                "weighted_latency_curve": curve, "seconds": [1.0] * len(curve), "strategy_seconds": strategy_seconds}

    # The budget is 4 trials; the task scheduler's last batch overshoots it (a fifth trial), and neither
    # EvolutionarySearch's 2.0 nor ARCO's 1.0 past the budget counts.
    summary = summarise([run("arco", [None, 5.0, 4.0, 3.0], 2.0), run("evolutionary", [None, 6.0, 4.0, 4.0, 2.0], 4.0),
                         run("arco", [None, 6.0, 6.0, 5.0, 1.0], 2.0, seed=1),
                         run("evolutionary", [None, 6.0, 4.0, 4.0], 4.0, seed=1)])
    assert summary["arco"]["trials_to_evolutionary_final"] == {0: 3, 1: None}
    assert summary["arco"]["latency_ms_at_trials_per_task"] == {2: [3000.0, 5000.0]}
    assert summary["evolutionary"]["latency_ms_at_trials_per_task"] == {2: [4000.0, 4000.0]}
    assert summary["arco"]["strategy_seconds_per_trial"] == pytest.approx((0.5 + 0.4) / 2)
    assert "trials_to_evolutionary_final" not in summary["evolutionary"]


def test_tune_relax_with_arco_tunes_every_task_and_compile_relax_runs_the_network(tmp_path):
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 8, 8), "float32"))
    w = relax.Var("w", relax.TensorType((8, 8, 3, 3), "float32"))
    d = relax.Var("d", relax.TensorType((512, 16), "float32"))
    with bb.function("main", [x, w, d]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(bb.emit(relax.op.nn.conv2d(x, w, padding=1))))
            out = bb.emit_output(bb.emit(relax.op.matmul(bb.emit(relax.op.reshape(y, (1, 512))), d)))
        bb.emit_func_output(out)
    mod = relax.transform.LegalizeOps()(bb.get())
    strategy, builder = ARCOSearchStrategy(seed=0), local_builder()
    try:
        database = ms.relax_integration.tune_relax(mod=mod, params={}, target=default_target(), work_dir=str(tmp_path),
                                                   max_trials_global=24, num_trials_per_iter=8, strategy=strategy,
                                                   builder=builder)
    finally:
        builder.shutdown()
    per_task = {}
    for task, _, _, sec in strategy.stats.measured:  # the clones of every task share the stats
        per_task.setdefault(task, []).append(sec)
    assert set(per_task) == {"conv2d", "relu", "reshape", "matmul"}
    assert len(per_task["conv2d"]) >= 8 and len(per_task["matmul"]) >= 8
    assert len(database) == sum(len(v) for v in per_task.values()) and not strategy.stats.stopped

    vm = relax.VirtualMachine(ms.relax_integration.compile_relax(database, mod, default_target(), params={}),
                              tvm.cpu())
    rng = np.random.default_rng(0)
    xs, ws, ds = (rng.standard_normal(s).astype("float32") for s in [(1, 8, 8, 8), (8, 8, 3, 3), (512, 16)])
    got = vm["main"](*[tvm.runtime.tensor(a) for a in (xs, ws, ds)]).numpy()
    padded = np.pad(xs, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = sum(np.einsum("nchw,oc->nohw", padded[:, :, r:r + 8, s:s + 8], ws[:, :, r, s])
               for r in range(3) for s in range(3))
    np.testing.assert_allclose(got, np.maximum(conv, 0).reshape(1, 512) @ ds, rtol=1e-3, atol=1e-3)


def test_the_network_benchmark_tunes_every_task_and_retimes_the_deployed_schedules():
    builder = local_builder()
    try:
        run = run_one("arco", seed=0, trials_per_task=1, per_iter=1, builder=builder, keep=True, image=16)
        retime_runs([run], rounds=1, seed=0, builder=builder)
    finally:
        builder.shutdown()
    assert len(run["tasks"]) == 11 and sum(run["weights"]) == 20
    assert run["trials_per_task_used"] == [1] * 11 and len(run["seconds"]) == 11
    assert run["weighted_latency_curve"][:10] == [None] * 10  # defined once every task has a run time
    expected = sum(w * s for w, s in zip(run["weights"], run["seconds"]))
    assert run["weighted_latency_curve"][-1] == pytest.approx(expected)
    assert run["retimed_weighted_latency"] > 0 and None not in run["retimed_task_seconds"]
