"""Single layers of the joint hardware x schedule space: every tuner against a brute-force optimum.

    python -m tvm_arco_plugin.codesign.single_layer --network resnet18 --layers c9,c10,c11,c8,c5 \
        --tuners arco,arco_noagents,arco_frozen,xgb,xgb8 --budget 250,500,1000 --seeds 10 \
        --cache zz.json --optima benchmarks/results/zigzag_subspace_optima.json --out zigzag.json [--plot z.png]

The joint space of one layer (``arco/vta_conv2d``: every hardware knob x every schedule knob) has
663,552 configs for ResNet-18's 7x7 outputs, 2,654,208 for 14x14 and 5,971,968 for 28x28: far too
many to score whole, and each evaluation is a ZigZag run (~0.06 s). The ground truth is the
brute-force optimum of a documented sub-space that still contains **every hardware configuration**:
all ``hw_*`` combinations x schedules with whole output rows (``tile_w`` = width), one input-channel
block per tile (``tile_ci`` = 1), every ``tile_h`` and ``tile_co`` and ``oc_nthread`` in {1, 2}
(``h_nthread`` = 1). The tuners search the **whole** joint space, so they can beat it.

Every tuner runs through AutoTVM's Tuner.tune with the ZigZag Builder/Runner, one evaluation per
trial, valid or not. XGBTuner and CHAMELEON use knob features here: the template's schedule does not
depend on the knobs (ZigZag reads them), so itervar features would be the same for every config.
The
output is the replay benchmark's JSON (one file per budget), so ``bench table`` reads it; the
optimum is the sub-space optimum's throughput.
"""
import itertools
import json
import logging
import os
import time

from ..checks import OneLineParser, check_writable, parser_checks
from ..tuner import throughput
from .accelerator import HW_CHOICES, NETWORK_LAYERS, ResourceBudget, hardware_from_knobs
from .template import BLOCK_COUNTS, ZigZagBuilder, ZigZagRunner, create_task
from .zigzag_model import InvalidSchedule, ZigZagEvaluator, divisors


def enumerate_subspace(layer, evaluator):
    """-> (best seconds, its (hw, schedule), configs in the sub-space, configs ZigZag evaluated)."""
    best, where, size, evaluated = float("inf"), None, 0, 0
    budget = ResourceBudget()
    schedules = list(itertools.product(divisors(layer.oh), BLOCK_COUNTS, (1, 2)))
    for values in itertools.product(*HW_CHOICES.values()):
        hw = hardware_from_knobs(dict(zip(HW_CHOICES, values)))
        size += len(schedules)
        if budget.violation(hw):
            continue
        for tile_h, tile_co, oc_nthread in schedules:
            schedule = dict(tile_h=tile_h, tile_w=layer.ow, tile_ci=1, tile_co=tile_co, oc_nthread=oc_nthread)
            try:
                seconds = evaluator.evaluate(hw, layer, **schedule)["seconds"]
            except InvalidSchedule:
                continue
            evaluated += 1
            if seconds < best:
                best, where = seconds, (hw.as_dict(), schedule)
    return best, where, size, evaluated


def subspace_optimum(layer, network, evaluator, optima_path):
    """The sub-space optimum of ``layer``, from ``optima_path`` if it holds it, else brute force (saved
    there). The file records how each optimum was found."""
    optima = {}
    if optima_path and os.path.exists(optima_path):
        with open(optima_path, encoding="utf-8") as handle:
            optima = json.load(handle)
    key = f"{network}:{layer.name}"
    if key not in optima:
        tic = time.time()
        best, where, size, evaluated = enumerate_subspace(layer, evaluator)
        optima[key] = {"layer": layer.name, "args": layer.args(), "subspace_configs": size,
                       "subspace_evaluated": evaluated, "best_seconds": best, "best": where,
                       "brute_force_seconds": round(time.time() - tic, 1)}
        if optima_path:
            with open(optima_path, "w", encoding="utf-8") as handle:
                json.dump(optima, handle, indent=1, sort_keys=True)
    return optima[key]


def main(argv=None):
    from .. import bench

    parser = OneLineParser(prog="python -m tvm_arco_plugin.codesign.single_layer")
    parser.add_argument("--network", choices=sorted(NETWORK_LAYERS), default="resnet18")
    parser.add_argument("--layers", default="c9,c10,c11")
    parser.add_argument("--tuners", default="arco,arco_noagents,arco_frozen,xgb,xgb8",
                        help=f"comma list of {','.join(bench.TUNERS)}")
    parser.add_argument("--budget", default="1000", help="evaluations per run; a comma list writes one JSON per "
                        "budget from the prefixes of the largest")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds FIRST_SEED .. FIRST_SEED + SEEDS - 1 (recorded as the task's first_seed)")
    parser.add_argument("--cache", help="JSON file caching ZigZag results")
    parser.add_argument("--optima", help="JSON file of sub-space optima (read, and written after a brute force)")
    parser.add_argument("--out", default="zigzag.json")
    parser.add_argument("--plot")
    args = parser.parse_args(argv)
    names = args.tuners.split(",")
    unknown = [n for n in names if n not in bench.TUNERS]
    if unknown:
        parser.error(f"--tuners: unknown {unknown}")
    layers = {layer.name: layer for layer, _ in NETWORK_LAYERS[args.network]()}
    chosen = args.layers.split(",")
    if set(chosen) - set(layers):
        parser.error(f"--layers: {args.network} has {','.join(layers)}")
    if args.seeds < 1 or args.first_seed < 0:
        parser.error("--seeds must be at least 1 and --first-seed at least 0")
    budgets = bench.budgets_of(args.budget)
    parser_checks(parser, lambda: check_writable(args.out, "--out"))
    logging.getLogger("autotvm").setLevel(logging.WARNING)
    evaluator = ZigZagEvaluator(args.cache)
    entries = []
    for name in chosen:
        layer = layers[name]
        optimum = subspace_optimum(layer, args.network, evaluator, args.optima)
        evaluator.save()
        task = create_task(layer)
        entry = {"log": None, "task": f"{args.network} {name} {layer.args()} joint hw x schedule",
                 "space_size": len(task.config_space), "optimum": task.flop / optimum["best_seconds"],
                 "subspace_optimum": optimum, "first_seed": args.first_seed, "runs": {}}
        entry["optimum_gflops"] = entry["optimum"] / 1e9
        for tuner in names:
            entry["runs"][tuner] = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                tic = time.time()
                option = {"builder": ZigZagBuilder(n_parallel=8), "runner": ZigZagRunner(evaluator)}
                run = bench.run_tuner(task, tuner, budgets[-1], seed, option,
                                      lambda inp, res: throughput(inp.task, res), features="knob", expect_errors=True)
                entry["runs"][tuner].append(run)
                best = max(run.flops) if len(run.flops) else 0.0
                print(f"{name} {tuner} seed {seed}: {best / entry['optimum']:.3f} of the sub-space optimum "
                      f"after {len(run.flops)} evaluations ({time.time() - tic:.0f} s)", flush=True)
            evaluator.save()
        entries.append(entry)
        bench.write_results(args, entries, budgets)  # after every layer: partial results survive
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
