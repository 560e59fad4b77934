"""Time inside the tuner on a very large space: one ResNet-18 layer's co-design joint space.

    OMP_NUM_THREADS=1 python benchmarks/search_time_joint_space.py --trials 160 [--cache zz.json]

The replayed spaces have at most ~4,400 configs; this checks that ARCO's search time per trial stays
low when the space has 663,552 (c11 of ResNet-18 on the VTA-like accelerator, every hardware and
schedule knob), measured through the ZigZag Runner. Prints seconds per trial in each tuner.
"""
import argparse
import logging
import time

from tvm import autotvm

from tvm_arco_plugin import ARCOTuner
from tvm_arco_plugin.codesign.accelerator import NETWORK_LAYERS
from tvm_arco_plugin.codesign.template import ZigZagBuilder, ZigZagRunner, create_task
from tvm_arco_plugin.codesign.zigzag_model import ZigZagEvaluator
from tvm_arco_plugin.timing import time_in_tuner

TUNERS = {
    "arco": lambda task: ARCOTuner(task, seed=0),
    "xgb": lambda task: autotvm.tuner.XGBTuner(task, feature_type="knob"),
    "xgb8": lambda task: autotvm.tuner.XGBTuner(task, feature_type="knob", plan_size=8),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layer", default="c11")
    parser.add_argument("--trials", type=int, default=160)
    parser.add_argument("--tuners", default="arco,xgb,xgb8")
    parser.add_argument("--cache", help="ZigZag result cache (JSON)")
    args = parser.parse_args()
    logging.getLogger("autotvm").setLevel(logging.ERROR)
    evaluator = ZigZagEvaluator(args.cache)
    layer = next(l for l, _ in NETWORK_LAYERS["resnet18"]() if l.name == args.layer)
    for name in args.tuners.split(","):
        task = create_task(layer)
        tuner = TUNERS[name](task)
        tuner.set_error_threshold(10 ** 9)
        tic = time.time()
        with time_in_tuner(tuner) as clock:
            tuner.tune(n_trial=args.trials,
                       measure_option={"builder": ZigZagBuilder(), "runner": ZigZagRunner(evaluator)})
        print(f"{name:5s} {len(task.config_space)} configs: {clock.seconds_at(args.trials) / args.trials:.4f} s/trial "
              f"in the tuner, {time.time() - tic:.1f} s wall", flush=True)


if __name__ == "__main__":
    main()
