"""tvm-arco-plugin: the ARCO multi-agent reinforcement-learning tuner for Apache TVM's AutoTVM.

    from tvm_arco_plugin import ARCOTuner
    tuner = ARCOTuner(task)            # instead of autotvm.tuner.XGBTuner(task)
    tuner.tune(n_trial, measure_option, early_stopping, callbacks)
"""
__all__ = ["ARCOTuner", "host_target"]
__version__ = "0.1.0"


def __getattr__(name):
    # TVM is imported on first use, not with the package: torch.jit.load crashes in a process that
    # imported this TVM build first, so arco-tune must be able to load a TorchScript model before TVM.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._tvm import require_autotvm

    require_autotvm()
    from .target import host_target
    from .tuner import ARCOTuner

    return {"ARCOTuner": ARCOTuner, "host_target": host_target}[name]
