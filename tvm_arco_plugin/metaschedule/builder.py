"""MetaSchedule's LocalBuilder with its workers' slow first import moved outside the build timeout.

Why: LocalBuilder's build function starts with ``import tvm.s_tir.tensor_intrin``, which registers
every tensor intrinsic TVM has (CUDA's alone take ~11 s) and takes ~15 s on this 2-core machine. The
import runs inside the worker's 30 s per-build timer, in a fresh worker for every batch (LocalBuilder
restarts its pool each time), and a worker killed by the timer is replaced by another that imports
again. On an idle machine it fits; with the other core busy (a benchmark, XGBoost training) it does
not, and then every candidate fails with "LocalBuilder: Timeout, killed after 30.0 seconds"
(docs/metaschedule.md, "The builder timeout"). A pool initializer runs once per worker, before any
timer starts, so importing there keeps the timeout for the build itself.
"""
import functools
import importlib

from ._tvm import require_metaschedule

TENSOR_INTRINSICS_MODULE = "tvm.s_tir.tensor_intrin"


def import_tensor_intrinsics():
    """The initializer, as a picklable reference to a standard-library function (the worker needs
    nothing of this package)."""
    return functools.partial(importlib.import_module, TENSOR_INTRINSICS_MODULE)


def local_builder(*, timeout_sec=30.0, max_workers=None):
    """``ms.builder.LocalBuilder`` as TVM ships it, plus the initializer; pass it as ``builder=``."""
    _, ms = require_metaschedule()
    return ms.builder.LocalBuilder(timeout_sec=timeout_sec, max_workers=max_workers,
                                   initializer=import_tensor_intrinsics())
