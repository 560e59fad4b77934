"""ARCO for MetaSchedule (apache-tvm 0.27, ``tvm.s_tir.meta_schedule``): a ``PySearchStrategy``.

    from tvm_arco_plugin.metaschedule import ARCOSearchStrategy, confirm_best, local_builder
    ms.tune_tir(mod, target, work_dir, max_trials_global=256,
                strategy=ARCOSearchStrategy(seed=0), builder=local_builder())
    confirm_best(work_dir, confirmed_dir)  # re-time the fastest records; compile_tir from confirmed_dir

Runs in the MetaSchedule environment (`make test-ms` / `make demo-ms` create .venv-ms), not in the
AutoTVM one. See docs/metaschedule.md.
"""
__all__ = ["ARCOSearchStrategy", "local_builder", "confirm_best"]


def __getattr__(name):
    if name == "ARCOSearchStrategy":
        from .strategy import ARCOSearchStrategy

        return ARCOSearchStrategy
    if name == "local_builder":
        from .builder import local_builder

        return local_builder
    if name == "confirm_best":
        from .confirm import confirm_best

        return confirm_best
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
