"""AutoTVM templates for the VTA-like accelerator, and a Builder/Runner pair that measures with ZigZag.

The ConfigSpace of ``arco/vta_conv2d`` holds the hardware knobs (``hw_*``: BATCH, BLOCK_IN,
BLOCK_OUT, the three buffer sizes; ARCO gives them to its hardware agent) and the software knobs of
VTA's conv2d template (``tile_b/h/w/ci/co``, ``oc_nthread``, ``h_nthread``). VTA's template splits
channel axes whose length depends on BLOCK_IN/BLOCK_OUT, which an AutoTVM space (a fixed product of
knobs) cannot express, so ``tile_ci``/``tile_co`` are the number of channel *blocks* per tile
(powers of two) and ``tile_h``/``tile_w`` the output rows/columns per tile (divisors). A value that
does not divide the layer on the chosen hardware is a measurement error, like a tile that does not
fit its buffer or hardware over the resource budget.

Nothing is compiled: ``ZigZagBuilder`` only checks the config can be instantiated, ``ZigZagRunner``
returns the modelled latency (``costs = (seconds,)`` at the accelerator's clock), so every AutoTVM
tuner, log and ``apply_history_best`` works unchanged on these tasks.
"""
import time

from tvm import autotvm, te, topi
from tvm.autotvm.measure import MeasureErrorNo, MeasureResult
from tvm.autotvm.measure.measure import Builder, Runner
from tvm.autotvm.measure.measure_methods import BuildResult

from .accelerator import HW_CHOICES, ConvLayer, ResourceBudget, VTAConfig, hardware_from_knobs, knobs_from_hardware
from .zigzag_model import InvalidSchedule, ZigZagEvaluator, divisors

VTA_CONV2D = "arco/vta_conv2d"
VTA_DENSE = "arco/vta_dense"
BLOCK_COUNTS = [1, 2, 4, 8, 16, 32]
SOFTWARE_DEFAULTS = {"tile_b": 1, "tile_h": 1, "tile_w": 1, "tile_ci": 1, "tile_co": 1, "oc_nthread": 1,
                     "h_nthread": 1}


def _define_hardware(cfg, fixed_hardware):
    """Hardware knobs: the full choice lists, or a single value each when the hardware is fixed."""
    for name, choices in HW_CHOICES.items():
        cfg.define_knob(name, [fixed_hardware[name]] if fixed_hardware else choices)


def _int8_conv(n, c, h, w, k, r, s, stride, pad):
    data = te.placeholder((n, c, h, w), name="data", dtype="int8")
    kernel = te.placeholder((k, c, r, s), name="kernel", dtype="int8")
    out = topi.nn.conv2d_nchw(data, kernel, stride, pad, 1, out_dtype="int32")
    return data, kernel, out


@autotvm.template(VTA_CONV2D)
def vta_conv2d(n, c, h, w, k, r, s, stride, pad, fixed_hardware=None):
    """``fixed_hardware``: a tuple of (hw knob, value) pairs pins the hardware (software-only space)."""
    fixed = dict(fixed_hardware) if fixed_hardware else None
    data, kernel, out = _int8_conv(n, c, h, w, k, r, s, stride, pad)
    layer = ConvLayer("conv", n, c, h, w, k, r, s, stride, pad)
    cfg = autotvm.get_config()
    _define_hardware(cfg, fixed)
    cfg.define_knob("tile_b", divisors(n))
    cfg.define_knob("tile_h", divisors(layer.oh))
    cfg.define_knob("tile_w", divisors(layer.ow))
    cfg.define_knob("tile_ci", BLOCK_COUNTS)
    cfg.define_knob("tile_co", BLOCK_COUNTS)
    cfg.define_knob("oc_nthread", [1, 2])
    cfg.define_knob("h_nthread", [1, 2])
    cfg.add_flop(2 * layer.macs)
    return te.create_schedule(out.op), [data, kernel, out]


@autotvm.template(VTA_DENSE)
def vta_dense(n, c, k, fixed_hardware=None):
    fixed = dict(fixed_hardware) if fixed_hardware else None
    data, kernel, out = _int8_conv(n, c, 1, 1, k, 1, 1, 1, 0)
    cfg = autotvm.get_config()
    _define_hardware(cfg, fixed)
    cfg.define_knob("tile_b", divisors(n))
    cfg.define_knob("tile_ci", BLOCK_COUNTS)
    cfg.define_knob("tile_co", BLOCK_COUNTS)
    cfg.define_knob("oc_nthread", [1, 2])
    cfg.add_flop(2 * n * c * k)
    return te.create_schedule(out.op), [data, kernel, out]


def layer_of(task):
    """The ConvLayer a task of one of these templates computes."""
    if task.name == VTA_DENSE:
        n, c, k = task.args[:3]
        return ConvLayer("dense", n, c, 1, 1, k, 1, 1, 1, 0)
    return ConvLayer("conv", *task.args[:9])


def decode(config):
    """A config of these templates -> (VTAConfig, schedule kwargs)."""
    values = {name: knob.val for name, knob in config._entity_map.items()}  # pylint: disable=protected-access
    schedule = {name: values.get(name, default) for name, default in SOFTWARE_DEFAULTS.items()}
    return hardware_from_knobs(values), schedule


def create_task(layer: ConvLayer, hardware: VTAConfig = None, target="llvm"):
    """The ``arco/vta_conv2d`` task of ``layer``; with ``hardware`` the hardware knobs are pinned to it.

    (The target only names the task: nothing is compiled for it.)
    """
    fixed = tuple(sorted(knobs_from_hardware(hardware).items())) if hardware else None
    return autotvm.task.create(VTA_CONV2D, args=(*layer.args(), fixed), target=target)


class ZigZagBuilder(Builder):
    """Nothing to compile for a modelled accelerator."""

    def build(self, measure_inputs):
        return [BuildResult(None, None, None, 0.0) for _ in measure_inputs]


class ZigZagRunner(Runner):
    """Measures a config with ZigZag: cost = modelled latency in seconds at the accelerator's clock."""

    def __init__(self, evaluator=None, budget=None, n_parallel=8):
        super().__init__(timeout=10, n_parallel=n_parallel)
        self.evaluator = evaluator or ZigZagEvaluator()
        self.budget = budget or ResourceBudget()
        self.evaluations = 0
        self.details = {}  # (task args, config index) -> the evaluator's breakdown

    def get_build_kwargs(self):
        return {}

    def run(self, measure_inputs, build_results):
        return [self.measure(inp) for inp in measure_inputs]

    def measure(self, inp):
        tic = time.time()
        self.evaluations += 1
        hw, schedule = decode(inp.config)
        problem = self.budget.violation(hw)
        try:
            if problem:
                raise InvalidSchedule(f"hardware over budget: {problem}")
            result = self.evaluator.evaluate(hw, layer_of(inp.task), **schedule)
        except InvalidSchedule as err:
            return MeasureResult(("zigzag", err), MeasureErrorNo.RUNTIME_DEVICE, time.time() - tic, time.time())
        self.details[(inp.task.args, inp.config.index)] = result
        return MeasureResult((result["seconds"],), 0, time.time() - tic, time.time())


def zigzag_measure_option(evaluator=None, budget=None, n_parallel=8):
    return autotvm.measure_option(builder=ZigZagBuilder(n_parallel=n_parallel),
                                  runner=ZigZagRunner(evaluator, budget, n_parallel=n_parallel))


__all__ = ["VTA_CONV2D", "VTA_DENSE", "VTAConfig", "ZigZagBuilder", "ZigZagRunner", "zigzag_measure_option",
           "create_task", "decode", "layer_of"]
