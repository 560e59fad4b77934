"""MetaSchedule's LocalBuilder, with two changes to its worker processes.

1. A worker building for a CPU (an ``llvm`` target) skips the slow import. LocalBuilder's build
   function starts with ``import tvm.s_tir.tensor_intrin``, which registers every tensor intrinsic
   TVM has (CUDA's alone take most of it): ~15 s on the znver4 host, 30-86 s on znver3 ones, where a
   worker otherwise starts in ~3 s. It runs inside the worker's 30 s per-build timer, and a worker
   killed by the timer is replaced by another that imports again; with the other core busy every
   candidate then fails with "LocalBuilder: Timeout, killed after 30.0 seconds"
   (docs/metaschedule.md, "The builder timeout"). A CPU build does not need the registry: the
   schedule arrives already tensorized (tensorization runs in the tuning process, which imports the
   registry itself), and the only build-time hooks the import registers are CUDA's (MMA codegen
   looks up an index map ``tensor_intrin/cuda.py`` registers). Other targets are built by TVM's
   ``default_build`` itself, import included; ``local_builder(tensor_intrinsics=True)`` does that
   import in a pool initializer first, once per worker and before any build timer starts.
2. The pool lives as long as the builder. LocalBuilder starts a new pool, so new workers, for every
   batch (a guard against a memory leak in long-lived workers), so a strategy pays the workers' start
   once per batch: ARCO's small first batches paid it three times where EvolutionarySearch paid it
   once. Here each worker is replaced after ``builds_per_worker`` builds (PopenPoolExecutor's own
   ``maximum_process_uses``), which bounds the leak by builds, not batches.
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


def build_module(mod, target, params):
    """MetaSchedule's ``default_build`` without its registry import for ``llvm`` targets (see the
    module's docstring); other targets go to ``default_build`` itself. Module-level, so a worker
    unpickles it by importing this module."""
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    if target.kind.name != "llvm":
        return _tvm_local_builder.default_build(mod, target, params)
    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target, "default")  # what TVM's deprecated tvm.driver.build calls


def prepare_worker(tensor_intrinsics):
    """The pool's initializer, run once per worker before any build timer. Unpickling it imports this
    module, so unpickling ``build_module`` later costs nothing inside a timed build."""
    if tensor_intrinsics:
        importlib.import_module(TENSOR_INTRINSICS_MODULE)


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


def local_builder(*, timeout_sec=30.0, max_workers=None, builds_per_worker=BUILDS_PER_WORKER,
                  tensor_intrinsics=False):
    """The builder to pass as ``builder=``: LocalBuilder's builds, its workers started once and without
    the slow registry import for CPU targets (see the module's docstring). ``tensor_intrinsics=True``
    for a GPU target: each worker then imports the registry once, before its first build timer."""
    return PooledLocalBuilder(timeout_sec=timeout_sec, max_workers=max_workers, builds_per_worker=builds_per_worker,
                              f_build=build_module, initializer=functools.partial(prepare_worker, tensor_intrinsics))
