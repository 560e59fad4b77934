"""`make demo-ms`: tune one workload with MetaSchedule, ARCO against EvolutionarySearch, then compile
the best schedule ARCO found from its database and check it against NumPy.

    python -m tvm_arco_plugin.metaschedule.demo [--workload resnet18_conv2d_28] [--trials 64] [--seed 0]
"""
import argparse
import sys
import tempfile
import time

import numpy as np

from ._tvm import require_metaschedule
from .workloads import WORKLOADS, default_target, workload


def tune(mod, target, work_dir, strategy, trials, seed):
    _, ms = require_metaschedule()
    from .builder import local_builder

    tic = time.time()
    builder = local_builder()
    try:
        database = ms.tune_tir(mod, target, work_dir, max_trials_global=trials, num_trials_per_iter=min(64, trials),
                               strategy=strategy, builder=builder, seed=seed)
    finally:
        builder.shutdown()
    return database, time.time() - tic


def best_seconds(database):
    from .strategy import run_seconds

    times = [run_seconds(r) for r in database.get_all_tuning_records()]
    good = [t for t in times if t is not None]
    return min(good) if good else None


def check_against_numpy(mod, database, target):
    """Compile the best record with compile_tir, run it, compare with NumPy; returns median seconds."""
    tvm, ms = require_metaschedule()
    sch = ms.tir_integration.compile_tir(database, mod, target)
    if sch is None:
        raise RuntimeError("compile_tir found no record for this workload in the database")
    lib = tvm.compile(sch.mod, target=target)
    shapes = [[int(d) for d in info.shape] for info in ms.arg_info.ArgInfo.from_prim_func(sch.mod["main"])]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype("float32") for s in shapes[:-1]] + [np.zeros(shapes[-1], "float32")]
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(a, dev) for a in arrays]
    lib["main"](*args)
    if len(shapes[0]) == 2:
        expected = arrays[0] @ arrays[1]
    else:  # NCHW conv2d, stride 1, padding 1, through a direct sum over the 3x3 window
        x, w = arrays[0], arrays[1]
        pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        h, wd = x.shape[2], x.shape[3]
        expected = np.zeros(shapes[-1], "float32")
        for r in range(w.shape[2]):
            for s in range(w.shape[3]):
                expected += np.einsum("nchw,oc->nohw", pad[:, :, r:r + h, s:s + wd], w[:, :, r, s])
    np.testing.assert_allclose(args[-1].numpy(), expected, rtol=1e-3, atol=1e-3)
    timer = lib.mod.time_evaluator("main", dev, number=10, repeat=15)
    return float(np.median(timer(*args).results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="resnet18_conv2d_28", help=f"one of {', '.join(WORKLOADS)} or matmul_N")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be positive")
    try:
        mod = workload(args.workload)
    except ValueError as err:
        parser.error(str(err))
    tvm, ms = require_metaschedule()
    from .strategy import ARCOSearchStrategy

    target = default_target()
    flops = float(tvm.s_tir.analysis.estimate_tir_flops(mod))
    print(f"demo-ms: apache-tvm {tvm.__version__}, {args.workload} ({flops / 1e6:.0f} MFLOP), "
          f"{args.trials} trials per strategy, target {target}")
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        arco = ARCOSearchStrategy(seed=args.seed)
        arco_db, arco_s = tune(mod, target, work_dir + "/arco", arco, args.trials, args.seed)
        evo_db, evo_s = tune(mod, target, work_dir + "/evolutionary", "evolutionary", args.trials, args.seed)
        for name, db, secs in (("ARCO", arco_db, arco_s), ("EvolutionarySearch", evo_db, evo_s)):
            best = best_seconds(db)
            rows.append((name, best, secs))
        latency = check_against_numpy(mod, arco_db, target)
    print(f"{'strategy':<20} {'best GFLOP/s':>12} {'tuning s':>9}")
    for name, best, secs in rows:
        gflops = flops / best / 1e9 if best else 0.0
        print(f"{name:<20} {gflops:>12.1f} {secs:>9.0f}")
    print(f"ARCO's time in the strategy: {arco.stats.search_seconds:.1f} s")
    print(f"compile_tir with ARCO's database: output matches NumPy; median of 15 runs {latency * 1e3:.3f} ms "
          f"({flops / latency / 1e9:.1f} GFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
