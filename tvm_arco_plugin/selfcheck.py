"""Install self-check: one real AutoTVM measurement on this CPU must succeed.

Run by ``scripts/install.sh``; exits non-zero (loudly) if the installed TVM cannot measure, which is
what happens when the RPC ``load_module`` patch is missing or xgboost clashes with libtvm.
"""
import sys


def main():
    import numpy as np
    import tvm
    from tvm import autotvm

    from . import templates
    from .target import host_target

    problems = []
    if not hasattr(autotvm, "tuner"):
        problems.append("this TVM has no autotvm")
    task = autotvm.task.create(templates.MATMUL, args=(64, 64, 64, "float32"), target=host_target())
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(n_parallel=1, timeout=60),
        runner=autotvm.LocalRunner(number=2, repeat=1, timeout=60),
    )
    measure = autotvm.measure.create_measure_batch(task, option)
    inp = autotvm.MeasureInput(task.target, task, task.config_space.get(0))
    (res,) = measure([inp])
    del measure
    if res.error_no != 0:
        problems.append(f"LocalRunner measurement failed (error_no {res.error_no}): {str(res.costs)[:400]}")

    import xgboost  # after tvm on purpose: xgboost>=2 crashes here (symbol clash with libtvm.so)

    rng = np.random.default_rng(0)
    booster = xgboost.train({"verbosity": 0}, xgboost.DMatrix(rng.random((32, 4)), label=rng.random(32)), 4)
    if booster.predict(xgboost.DMatrix(rng.random((2, 4)))).shape != (2,):
        problems.append("xgboost prediction has the wrong shape")

    if problems:
        print("SELF-CHECK FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"self-check ok: tvm {tvm.__version__}, xgboost {xgboost.__version__}, target {task.target}, "
          f"one matmul config measured in {np.mean(res.costs) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
