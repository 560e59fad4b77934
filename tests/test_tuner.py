"""ARCOTuner through AutoTVM's real Tuner.tune loop, real measurement and real logs."""
import logging

import numpy as np
import pytest
import tvm
from tvm import autotvm, te
from tvm.autotvm.task.space import ConfigSpace

from tvm_arco_plugin import ARCOTuner, host_target
from tvm_arco_plugin.records import read_records
from tvm_arco_plugin.search.engine import SearchSettings

from conftest import matmul_task


def tune_like_the_tutorial(tuner_cls, task, measure_option, log_file, n_trial, **tuner_kwargs):
    """The loop of TVM's tune_relay_x86 tutorial / tvmc, verbatim apart from the tuner class."""
    tuner = tuner_cls(task, **tuner_kwargs)
    tuner.tune(
        n_trial=min(n_trial, len(task.config_space)),
        early_stopping=None,
        measure_option=measure_option,
        callbacks=[
            autotvm.callback.progress_bar(n_trial, prefix="[Task 1/1]"),
            autotvm.callback.log_to_file(log_file),
        ],
    )
    return tuner


def measured_indexes(log_file):
    return [inp.config.index for inp, _ in read_records(log_file)]


@pytest.mark.parametrize("tuner_cls", [autotvm.tuner.XGBTuner, ARCOTuner])
def test_same_script_runs_xgb_and_arco(tuner_cls, recorded_matmul, tmp_path):
    task, option = recorded_matmul
    log = str(tmp_path / "t.log")
    tuner = tune_like_the_tutorial(tuner_cls, task, option, log, n_trial=24)
    assert len(measured_indexes(log)) == 24
    assert tuner.best_flops > 0


def _check_log_and_best(tuner, task, log):
    records = list(autotvm.record.load_from_file(log))  # AutoTVM's own reader: every line decodes
    assert records and all(r[0] is not None for r in records)
    ok = [(inp, res) for inp, res in records if res.error_no == 0]
    best_inp, best_res = min(ok, key=lambda r: np.mean(r[1].costs))
    assert best_inp.config.index == tuner.best_config.index
    assert np.isclose(task.flop / np.mean(best_res.costs), tuner.best_flops)
    dispatch = autotvm.apply_history_best(log)
    chosen = dispatch.query(task.target, task.workload)
    assert chosen.index == tuner.best_config.index
    with task.target, dispatch:
        sch, args = task.instantiate(chosen)
        module = tvm.build(sch, args, target=task.target)
    assert module is not None


def test_end_to_end_matmul_local_runner(local_measure_option, tmp_path):
    task = matmul_task(256)
    log = str(tmp_path / "matmul.log")
    tuner = tune_like_the_tutorial(ARCOTuner, task, local_measure_option, log, n_trial=16, seed=3)
    assert len(set(measured_indexes(log))) == 16
    _check_log_and_best(tuner, task, log)
    assert tuner.search_seconds > 0


@pytest.mark.slow
def test_end_to_end_resnet18_conv2d_local_runner(local_measure_option, tmp_path):
    from tvm import relay
    from tvm.relay import testing

    mod, params = testing.resnet.get_workload(num_layers=18, batch_size=1)
    tasks = autotvm.task.extract_from_program(mod["main"], target=host_target(), params=params,
                                              ops=(relay.op.get("nn.conv2d"),))
    conv = [t for t in tasks if t.name.startswith("conv2d_NCHWc")]
    assert conv, [t.name for t in tasks]
    task = conv[-1]
    log = str(tmp_path / "conv.log")
    tuner = tune_like_the_tutorial(ARCOTuner, task, local_measure_option, log, n_trial=12, seed=0)
    assert len(set(measured_indexes(log))) == 12
    _check_log_and_best(tuner, task, log)


def test_resume_never_remeasures(recorded_matmul, tmp_path):
    task, option = recorded_matmul
    log = str(tmp_path / "resume.log")
    tune_like_the_tutorial(ARCOTuner, task, option, log, n_trial=20, seed=0)
    first = measured_indexes(log)
    resumed = ARCOTuner(task, seed=1)
    resumed.load_history(autotvm.record.load_from_file(log))
    assert resumed.best_flops > 0
    resumed.tune(n_trial=20, measure_option=option, callbacks=[autotvm.callback.log_to_file(log)])
    everything = measured_indexes(log)
    assert len(everything) == 40 and len(set(everything)) == 40, "a config was measured twice"
    assert set(first) < set(everything)


def _proposals(task, option, seed, n_trial=32, settings=None):
    tuner = ARCOTuner(task, seed=seed, settings=settings)
    tuner.tune(n_trial=n_trial, measure_option=option)
    return list(tuner.xs)


def test_same_seed_same_proposals_different_seed_differs(recorded_matmul):
    task, option = recorded_matmul
    a = _proposals(task, option, seed=7)
    np.random.seed(12345)  # outside draws from the global RNG must not matter
    b = _proposals(task, option, seed=7)
    c = _proposals(task, option, seed=8)
    assert a == b
    assert a != c


def test_optimism_is_seeded_and_changes_the_proposals(recorded_matmul):
    """The uncertainty term (``optimism``, a bootstrap ensemble refit after every batch) keeps proposals
    reproducible, and it is used: the same seed without it proposes otherwise."""
    task, option = recorded_matmul
    optimistic = SearchSettings(explore_every=8, optimism=1.0)
    a = _proposals(task, option, seed=7, settings=optimistic)
    assert a == _proposals(task, option, seed=7, settings=optimistic)
    assert a != _proposals(task, option, seed=7)


def test_space_exhaustion(recorded_matmul):
    task, option = recorded_matmul
    tuner = ARCOTuner(task, seed=0)
    tuner.tune(n_trial=10 * len(task.config_space), measure_option=option)
    assert sorted(tuner.xs) == list(range(len(task.config_space)))
    assert not tuner.has_next()


@autotvm.template("arco_test/filtered_matmul")
def filtered_matmul(n):
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    y, x = s[C].op.axis
    cfg = autotvm.get_config()
    cfg.define_split("tile_y", y, num_outputs=2)
    cfg.define_split("tile_x", x, num_outputs=2)
    cfg.multi_filter(filter=lambda e: e["tile_y"].size[-1] * e["tile_x"].size[-1] <= 16)
    cfg["tile_y"].apply(s, C, y)
    cfg["tile_x"].apply(s, C, x)
    cfg.add_flop(2 * n ** 3)
    return s, [A, B, C]


def test_invalid_points_are_never_proposed(local_measure_option):
    task = autotvm.task.create("arco_test/filtered_matmul", args=(64,), target=host_target())
    space = task.config_space
    assert len(space) < space.range_length  # the filter really removes points
    tuner = ARCOTuner(task, seed=0)
    tuner.tune(n_trial=len(space) + 5, measure_option=local_measure_option)
    assert sorted(tuner.xs) == sorted(i for i in range(space.range_length) if space.is_index_valid(i))


@autotvm.template("arco_test/always_fails")
def always_fails(n):
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2, name="B")
    s = te.create_schedule(B.op)
    cfg = autotvm.get_config()
    cfg.define_split("tile", B.op.axis[0], num_outputs=2)
    if type(cfg) is not ConfigSpace:  # noqa: E721  (task creation succeeds, every real config fails)
        cfg.raise_error("this template fails on purpose")
    cfg.add_flop(n)
    return s, [A, B]


def test_all_failing_measurements_end_cleanly(local_measure_option, tmp_path):
    task = autotvm.task.create("arco_test/always_fails", args=(64,), target=host_target())
    log = str(tmp_path / "fail.log")
    tuner = ARCOTuner(task, seed=0)
    tuner.tune(n_trial=6, measure_option=local_measure_option, callbacks=[autotvm.callback.log_to_file(log)])
    results = [res for _, res in read_records(log)]
    assert len(results) == 6 and all(r.error_no != 0 for r in results)
    assert tuner.best_flops == 0 and len(set(tuner.xs)) == 6


def test_warm_start_from_other_shapes(tmp_path):
    from conftest import MATMUL_128_LOG

    other = list(read_records(MATMUL_128_LOG))  # a different shape of the same template
    task = matmul_task(256)
    tuner = ARCOTuner(task, seed=0)
    tuner.load_history(other, min_seed_records=10)
    assert tuner.cost_model.base_model is not None
    assert len(tuner.xs) == 0  # other shapes are never counted as measured here
    # The warm-started model guides the very first proposals (no diverse random phase needed).
    assert tuner._model_ready  # pylint: disable=protected-access


def test_time_in_tuner_is_logged(recorded_matmul, caplog):
    task, option = recorded_matmul
    tuner = ARCOTuner(task, seed=0)
    with caplog.at_level(logging.INFO, logger="autotvm"):
        tuner.tune(n_trial=16, measure_option=option)
    assert any("time in tuner" in r.getMessage() for r in caplog.records)
    assert tuner.time_in_next_batch > 0 and tuner.time_in_update > 0


def test_knob_assignment_on_topi_templates():
    from tvm import relay

    data = relay.var("data", shape=(1, 64, 28, 28))
    weight = relay.var("weight", shape=(64, 64, 3, 3))
    conv = relay.nn.conv2d(data, weight, padding=(1, 1), channels=64, kernel_size=(3, 3))
    flat = relay.nn.batch_flatten(conv)
    dense = relay.nn.dense(flat, relay.var("w2", shape=(10, 64 * 28 * 28)))
    func = relay.Function(relay.analysis.free_vars(dense), dense)
    tasks = autotvm.task.extract_from_program(func, target=host_target(), params={},
                                              ops=(relay.op.get("nn.conv2d"), relay.op.get("nn.dense")))
    by_name = {t.name: ARCOTuner(t).layout.assignment for t in tasks}
    conv2d = by_name["conv2d_NCHWc.x86"]
    assert conv2d["mapping"] == ["tile_ic", "tile_oc", "tile_ow"]
    assert conv2d["scheduling"] == ["unroll_kw"]
    assert conv2d["hardware"] == []
    dense_names = [n for n in by_name if n.startswith("dense")]
    assert dense_names
    for name in dense_names:
        owned = by_name[name]
        assert owned["hardware"] == []
        assert all(k.startswith("tile_") for k in owned["mapping"]) and owned["mapping"]
