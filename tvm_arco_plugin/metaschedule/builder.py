"""MetaSchedule's LocalBuilder, with two changes to when its worker processes start.

1. The workers' slow first import runs outside the build timeout. LocalBuilder's build function
   starts with ``import tvm.s_tir.tensor_intrin``, which registers every tensor intrinsic TVM has
   (CUDA's alone take ~11 s): ~15 s on the znver4 host, ~59 s on a znver3 one. It runs inside the
   worker's 30 s per-build timer, and a worker killed by the timer is replaced by another that
   imports again; with the other core busy every candidate then fails with "LocalBuilder: Timeout,
   killed after 30.0 seconds" (docs/metaschedule.md, "The builder timeout"). A pool initializer runs
   once per worker, before any timer starts.
2. The pool lives as long as the builder. LocalBuilder starts a new pool, so new workers that import
   again, for every batch (a guard against a memory leak in long-lived workers), so a strategy pays
   the import once per batch: ARCO's small first batches paid it three times where
   EvolutionarySearch paid it once. Here each worker is replaced after ``builds_per_worker`` builds
   (PopenPoolExecutor's own ``maximum_process_uses``), which bounds the leak by builds, not batches.
"""
import functools
import importlib

from ._tvm import require_metaschedule

tvm, ms = require_metaschedule()
from tvm.ir.utils import derived_object  # noqa: E402  (after the clear-message import check)
from tvm.s_tir.meta_schedule.builder import local_builder as _tvm_local_builder  # noqa: E402
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind  # noqa: E402

TENSOR_INTRINSICS_MODULE = "tvm.s_tir.tensor_intrin"
BUILDS_PER_WORKER = 256


def import_tensor_intrinsics():
    """The initializer, as a picklable reference to a standard-library function (the worker needs
    nothing of this package)."""
    return functools.partial(importlib.import_module, TENSOR_INTRINSICS_MODULE)


@derived_object
class PooledLocalBuilder(_tvm_local_builder.LocalBuilder._cls):
    """``ms.builder.LocalBuilder`` whose worker pool is kept from batch to batch; each worker is
    replaced after ``builds_per_worker`` tasks (the start-up check is one). Call ``shutdown()`` when
    done; garbage collection also stops the workers."""

    def __init__(self, *, builds_per_worker=BUILDS_PER_WORKER, **kwargs):
        if builds_per_worker < 1:
            raise ValueError(f"builds_per_worker must be at least 1, got {builds_per_worker}")
        self.builds_per_worker = int(builds_per_worker)
        self.pool = None
        super().__init__(**kwargs)  # its sanity check starts the pool the builds then use

    def _workers(self):
        if self.pool is None:
            self.pool = PopenPoolExecutor(max_workers=self.max_workers, timeout=self.timeout_sec,
                                          initializer=self.initializer,
                                          maximum_process_uses=self.builds_per_worker)
        return self.pool

    def _sanity_check(self):
        def check(f_build, f_export):
            ms.utils.get_global_func_with_default_on_worker(name=f_build, default=None)
            ms.utils.get_global_func_with_default_on_worker(name=f_export, default=None)

        self._workers().submit(check, self.f_build, self.f_export).result()

    def build(self, build_inputs):
        jobs = [(self.f_build, self.f_export, build_input.mod, build_input.target,
                 _tvm_local_builder._serialize_params(build_input.params)) for build_input in build_inputs]
        results = []
        for outcome in self._workers().map_with_error_catching(lambda job: _tvm_local_builder._worker_func(*job), jobs):
            if outcome.status == StatusKind.COMPLETE:
                results.append(ms.builder.BuilderResult(outcome.value, None))
            elif outcome.status == StatusKind.TIMEOUT:
                results.append(ms.builder.BuilderResult(
                    None, f"LocalBuilder: Timeout, killed after {self.timeout_sec} seconds"))
            else:
                results.append(ms.builder.BuilderResult(
                    None, "LocalBuilder: An exception occurred\n" + str(outcome.value)))
        return results

    def shutdown(self):
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def local_builder(*, timeout_sec=30.0, max_workers=None, builds_per_worker=BUILDS_PER_WORKER):
    """The builder to pass as ``builder=``: LocalBuilder's builds, its workers started once and with
    the slow import done before any build timer (see the module's docstring)."""
    return PooledLocalBuilder(timeout_sec=timeout_sec, max_workers=max_workers,
                              builds_per_worker=builds_per_worker, initializer=import_tensor_intrinsics())
