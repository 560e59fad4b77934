"""Hardware/software co-design of a VTA-like accelerator, evaluated with ZigZag (docs/codesign.md).

Importing this package registers the ``arco/vta_conv2d`` and ``arco/vta_dense`` AutoTVM templates.
"""
from .accelerator import DEFAULT_VTA, ConvLayer, ResourceBudget, VTAConfig
from .template import VTA_CONV2D, VTA_DENSE, ZigZagBuilder, ZigZagRunner, create_task, zigzag_measure_option
from .zigzag_model import InvalidSchedule, ZigZagEvaluator, default_schedule

__all__ = ["DEFAULT_VTA", "ConvLayer", "ResourceBudget", "VTAConfig", "VTA_CONV2D", "VTA_DENSE", "ZigZagBuilder",
           "ZigZagRunner", "create_task", "zigzag_measure_option", "InvalidSchedule", "ZigZagEvaluator",
           "default_schedule"]
