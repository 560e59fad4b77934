"""Real MetaSchedule runs on this machine (apache-tvm 0.27: LocalBuilder, LocalRunner, JSONDatabase)."""
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tvm_arco_plugin.metaschedule import ARCOSearchStrategy, local_builder
from tvm_arco_plugin.metaschedule.builder import TENSOR_INTRINSICS_MODULE
from tvm_arco_plugin.metaschedule.workloads import default_target, matmul

from helpers import ms, tvm


def traces(database):
    return {str(r.trace) for r in database.get_all_tuning_records()}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """8 real trials of a 64x64 matmul, then 8 more resumed from the same work_dir; one builder."""
    work_dir = str(tmp_path_factory.mktemp("tune"))
    mod = matmul(64)
    builder = local_builder()
    first = ARCOSearchStrategy(seed=0)
    db1 = ms.tune_tir(mod, default_target(), work_dir, max_trials_global=8, num_trials_per_iter=8,
                      strategy=first, builder=builder)
    before = traces(db1)
    second = ARCOSearchStrategy(seed=0)
    db2 = ms.tune_tir(mod, default_target(), work_dir, max_trials_global=8, num_trials_per_iter=8,
                      strategy=second, builder=builder)
    yield SimpleNamespace(mod=mod, before=before, database=db2, first=first, second=second, work_dir=work_dir,
                          builder=builder)
    builder.shutdown()


def test_short_tune_writes_a_database_that_compile_tir_uses(tuned):
    mod, before, database, first = tuned.mod, tuned.before, tuned.database, tuned.first
    assert len(before) == 8 and len(first.stats.measured) == 8
    assert sum(sec is not None for _, _, _, sec in first.stats.measured) >= 6
    sch = ms.tir_integration.compile_tir(database, mod, default_target())
    assert sch is not None
    best = database.get_top_k(database.commit_workload(mod), 1)[0]
    assert str(sch.trace) == str(best.trace)
    lib = tvm.compile(sch.mod, target=default_target())
    a, b = (np.random.default_rng(i).standard_normal((64, 64)).astype("float32") for i in (1, 2))
    dev = tvm.cpu()
    out = tvm.runtime.tensor(np.zeros((64, 64), "float32"), dev)
    lib["main"](tvm.runtime.tensor(a, dev), tvm.runtime.tensor(b, dev), out)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_a_second_run_on_the_same_database_resumes_without_measuring_again(tuned):
    before, database, second = tuned.before, tuned.database, tuned.second
    assert second.stats.warm_started == 8
    assert len(database) == 16
    assert len(traces(database)) == 16  # the 8 new candidates are all new schedules


def test_confirm_retimes_the_best_records_into_a_new_database_that_compile_tir_uses(tuned, tmp_path):
    from tvm_arco_plugin.metaschedule.confirm import confirm_best
    from tvm_arco_plugin.metaschedule.prior import _replayed
    from tvm_arco_plugin.metaschedule.strategy import run_seconds

    out = str(tmp_path / "confirmed")
    warnings = []
    (report,) = confirm_best(tuned.work_dir, out, top=3, rounds=2, builder=tuned.builder, warn=warnings.append)
    assert warnings == []
    assert len(report["candidates"]) == 3 and report["deployed_before"] == 0
    assert "float32[64x64]" in report["workload"]
    recorded = sorted((r for r in tuned.database.get_all_tuning_records() if run_seconds(r) is not None),
                      key=run_seconds)[:3]
    assert [c["recorded_gflops"] for c in report["candidates"]] == pytest.approx(
        [2 * 64 ** 3 / run_seconds(r) / 1e9 for r in recorded])
    confirmed = ms.database.JSONDatabase(work_dir=out)
    records = confirmed.get_all_tuning_records()
    assert len(records) == 3 and all(len(r.run_secs) == 2 for r in records)
    assert {str(r.trace) for r in records} == {str(r.trace) for r in recorded}
    means = [float(np.mean([1 / g for g in c["timings_gflops"]])) for c in report["candidates"]]
    assert report["deployed_now"] == int(np.argmin(means))
    sch = ms.tir_integration.compile_tir(confirmed, tuned.mod, default_target())
    (deployed,), _, skipped = _replayed(ms, tuned.mod, [recorded[report["deployed_now"]]])
    assert skipped == 0
    tvm.ir.assert_structural_equal(sch.mod, deployed.sch.mod)
    assert len(ms.database.JSONDatabase(work_dir=tuned.work_dir)) == 16, "the tuned database is left as it was"


def test_confirm_refuses_bad_folders_before_any_work(tuned, tmp_path, capsys):
    from tvm_arco_plugin.metaschedule.confirm import confirm_best, main

    with pytest.raises(ValueError, match="holds no MetaSchedule JSON database"):
        confirm_best(str(tmp_path / "nothing"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="already holds a database"):
        confirm_best(tuned.work_dir, tuned.work_dir)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="cannot write a database in"):
        confirm_best(tuned.work_dir, str(tmp_path / "a_file" / "out"))
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "nothing"), "--out", str(tmp_path / "out"), "--top", "0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("got top=0, rounds=3")
    assert not (tmp_path / "out").exists()


def test_candidates_that_all_fail_to_build_end_the_task_with_a_clear_message(tmp_path):
    # Cross-compiling for AArch64 without its toolchain: LLVM compiles, linking the library fails.
    target = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "num-cores": 2})
    strategy = ARCOSearchStrategy(seed=0, max_failed_batches=2)
    database = ms.tune_tir(matmul(64), target, str(tmp_path), max_trials_global=64, num_trials_per_iter=8,
                           strategy=strategy, builder=local_builder())
    assert len(database) == 16  # two failed batches, then the task stopped instead of using all 64 trials
    (task, reason), = strategy.stats.stopped
    assert "every candidate failed to build or run" in reason and "\n" not in reason
    assert "g++" in reason or "LocalBuilder" in reason


def _worker_has_registry(builder):
    def has_registry(name):  # nested, so it is pickled by value (workers cannot import this test file)
        import sys

        return name in sys.modules

    return builder._workers().submit(has_registry, TENSOR_INTRINSICS_MODULE).result()


def test_the_builder_fix_keeps_the_slow_import_out_of_the_build_timeout():
    """The cause of "LocalBuilder: Timeout, killed after 30.0 seconds": TVM's build function imports
    every tensor intrinsic (15-86 s on our hosts) inside the per-build timer. With a timeout far longer
    than the build but shorter than that import, TVM's builder times out; ours builds, because a CPU
    build skips the import, or, with ``tensor_intrinsics=True``, because the worker did it beforehand."""
    timeout = 5.0
    mod = matmul(32)
    build_input = [ms.builder.BuilderInput(mod, default_target())]
    tic = time.time()
    tvm.compile(mod, target=default_target())
    assert time.time() - tic < timeout / 4, "the build itself must fit well inside the shortened timeout"
    plain = ms.builder.LocalBuilder(timeout_sec=timeout, max_workers=1).build(build_input)[0]
    assert plain.error_msg is not None and "Timeout" in plain.error_msg
    for tensor_intrinsics in (False, True):
        fixed = local_builder(timeout_sec=timeout, max_workers=1, tensor_intrinsics=tensor_intrinsics)
        try:
            result = fixed.build(build_input)[0]
            assert result.error_msg is None and result.artifact_path
            assert _worker_has_registry(fixed) is tensor_intrinsics
        finally:
            fixed.shutdown()


def test_a_tensorized_cpu_schedule_builds_without_the_intrinsics_registry(tmp_path):
    """The registry is only needed where a schedule is tensorized (the tuning process): an AVX-512
    dot-product schedule builds in a worker that never imported it (compiled only: the host need not
    have AVX-512)."""
    from tvm.s_tir.schedule import Schedule
    from tvm.s_tir.tensor_intrin.x86 import AVX512_DOT_16x4_INTRIN
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def dense_u8i8(A: T.Buffer((16, 16), "uint8"), B: T.Buffer((1, 4, 16, 4), "int8"), C: T.Buffer((16, 16), "int32")):
        T.func_attr({"global_symbol": "main", "tir.noalias": True})
        for i, j, k in T.grid(16, 16, 16):
            with T.sblock("dense"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = 0
                C[vi, vj] = C[vi, vj] + T.cast(A[vi, vk], "int32") * T.cast(B[vj // 16, vk // 4, vj % 16, vk % 4], "int32")

    sch = Schedule(tvm.IRModule({"main": dense_u8i8}))
    block = sch.get_sblock("dense")
    i, j, k = sch.get_loops(block)
    k_outer, k_inner = sch.split(k, [None, 4])
    sch.reorder(i, k_outer, j, k_inner)
    sch.decompose_reduction(block, k_outer)
    sch.tensorize(j, AVX512_DOT_16x4_INTRIN)
    assert "llvm.x86.avx512.pmaddubs" in sch.mod.script(), "the schedule calls the intrinsic's body"
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    builder = local_builder(max_workers=1)
    try:
        result = builder.build([ms.builder.BuilderInput(sch.mod, target)])[0]
        assert result.error_msg is None, result.error_msg
        assert _worker_has_registry(builder) is False
    finally:
        builder.shutdown()


def test_a_build_for_a_non_cpu_target_imports_the_registry_as_tvms_does(monkeypatch):
    """CUDA's MMA codegen looks up an index map the registry registers, so only llvm builds skip it:
    any other target is built by TVM's own default_build, whose first line is that import."""
    import inspect

    from tvm.s_tir.meta_schedule.builder import local_builder as tvm_local_builder

    from tvm_arco_plugin.metaschedule import builder as pooled

    assert f"import {TENSOR_INTRINSICS_MODULE}" in inspect.getsource(tvm_local_builder)  # in default_build, its only use
    built_by_tvm = []
    monkeypatch.setattr(tvm_local_builder, "default_build", lambda *args: built_by_tvm.append(args[1].kind.name))
    pooled.build_module(matmul(8), tvm.target.Target("c"), None)
    assert built_by_tvm == ["c"]
    assert pooled.build_module(matmul(8), default_target(), None) is not None
    assert built_by_tvm == ["c"], "an llvm build does not go through it (nor import the registry)"


def test_the_builder_keeps_its_workers_across_batches_and_replaces_each_after_its_builds():
    """Why: TVM's LocalBuilder starts new workers (each paying the slow import) for every batch, so a
    strategy with small batches paid it more often. The export reports the worker's process id."""
    from tvm_arco_plugin.metaschedule.builder import PooledLocalBuilder

    def skip_build(mod, target, params):
        return None

    def worker_pid(rt_mod):
        import os

        return str(os.getpid())

    batch = [ms.builder.BuilderInput(matmul(8), default_target())]
    builder = PooledLocalBuilder(max_workers=1, builds_per_worker=4, f_build=skip_build, f_export=worker_pid)
    try:
        pids = [builder.build(batch)[0].artifact_path for _ in range(5)]
    finally:
        builder.shutdown()
    assert all(pid and pid.isdigit() for pid in pids), pids
    assert pids[0] == pids[1] == pids[2], "one worker serves the start-up check and three builds, batch after batch"
    assert pids[3] == pids[4] != pids[2], "and is replaced after them"
    plain = ms.builder.LocalBuilder(max_workers=1, f_build=skip_build, f_export=worker_pid)
    assert plain.build(batch)[0].artifact_path != plain.build(batch)[0].artifact_path, "TVM's starts anew per batch"
