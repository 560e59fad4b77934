"""tvm-arco-plugin: the ARCO multi-agent reinforcement-learning tuner for Apache TVM's AutoTVM.

    from tvm_arco_plugin import ARCOTuner
    tuner = ARCOTuner(task)            # instead of autotvm.tuner.XGBTuner(task)
    tuner.tune(n_trial, measure_option, early_stopping, callbacks)
"""
from ._tvm import require_autotvm

require_autotvm()

from .target import host_target  # noqa: E402
from .tuner import ARCOTuner  # noqa: E402

__all__ = ["ARCOTuner", "host_target"]
__version__ = "0.1.0"
