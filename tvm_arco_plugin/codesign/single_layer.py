"""Single layers of the joint hardware x schedule space: brute force against ARCO.

    python -m tvm_arco_plugin.codesign.single_layer --network resnet18 --layers c9,c10,c11 --budget 1000 \
        [--methods arco_tuner,arco_codesign] --seeds 2 --out single_layer.json

The joint space of one layer (``arco/vta_conv2d``: every hardware knob x every schedule knob) has
hundreds of thousands to millions of configs (663,552 for ResNet-18's 7x7 layers, 2.65M for c8), far
too many to model one by one at ~0.06 s each.
The brute force therefore enumerates a documented sub-space that still contains **every hardware
configuration**: all ``hw_*`` combinations x schedules with whole output rows (``tile_w`` = width),
one input-channel block per tile (``tile_ci`` = 1), every ``tile_h`` and ``tile_co`` and
``oc_nthread`` in {1, 2} (``h_nthread`` = 1). ARCOTuner searches the **whole** joint space with the
given budget; its best can beat the sub-space optimum, since the sub-space is not the whole space.

Two ARCO runs per seed, same budget: ``arco_tuner`` is one ARCOTuner on the joint space (every knob at
once, the hardware agent owning the ``hw_*`` knobs); ``arco_codesign`` is the network-level procedure
(``network.run_arco``) on a one-layer network: the hardware agent first scores accelerators with the
layer's hand schedule, then the software agents tune the best accelerators' schedules.
"""
import argparse
import itertools
import json
import logging
import time

from ..tuner import ARCOTuner
from .accelerator import HW_CHOICES, NETWORK_LAYERS, ResourceBudget, hardware_from_knobs
from .network import Session, run_arco
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


def arco_on_layer(layer, evaluator, budget, seed):
    task = create_task(layer)
    runner = ZigZagRunner(evaluator)
    tuner = ARCOTuner(task, seed=seed)
    tuner.set_error_threshold(10 ** 9)
    curve = []

    def track(_, inputs, results):
        for res in results:
            seconds = res.costs[0] if res.error_no == 0 else float("inf")
            curve.append(min(seconds, curve[-1] if curve else float("inf")))

    tuner.tune(n_trial=budget, measure_option={"builder": ZigZagBuilder(), "runner": runner}, callbacks=[track])
    return curve, len(task.config_space)


def codesign_on_layer(layer, evaluator, budget, seed):
    """-> best-so-far latency after each evaluation of ``run_arco`` on a one-layer network."""
    summary = run_arco(Session([(layer, 1)], evaluator, budget, seed))
    curve = []
    for evaluations, throughput in summary["curve"]:  # (evaluations so far, best so far), per tuned step
        while len(curve) < evaluations:
            curve.append(curve[-1] if curve else float("inf"))
        if curve:
            curve[-1] = min(curve[-1], 1.0 / throughput if throughput > 0 else float("inf"))
    return curve, summary["hardware"]


def arco_result(seed, curve, best):
    within = [i + 1 for i, s in enumerate(curve) if s <= best * 1.02]
    return {"seed": seed, "best_seconds": curve[-1], "ratio_to_subspace_best": best / curve[-1],
            "evaluations": len(curve), "evaluations_to_within_2pct": within[0] if within else None}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tvm_arco_plugin.codesign.single_layer")
    parser.add_argument("--network", choices=sorted(NETWORK_LAYERS), default="resnet18")
    parser.add_argument("--layers", default="c9,c10,c11")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default="arco_tuner,arco_codesign")
    parser.add_argument("--cache", help="JSON file caching ZigZag results")
    parser.add_argument("--out", default="single_layer.json")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    if not set(methods) <= {"arco_tuner", "arco_codesign"}:
        parser.error(f"--methods: choose from arco_tuner,arco_codesign, not {args.methods}")
    logging.getLogger("autotvm").setLevel(logging.WARNING)
    layers = {layer.name: layer for layer, _ in NETWORK_LAYERS[args.network]()}
    evaluator = ZigZagEvaluator(args.cache)
    out = {"network": args.network, "budget": args.budget, "layers": []}
    for name in args.layers.split(","):
        layer = layers[name]
        tic = time.time()
        best, where, size, evaluated = enumerate_subspace(layer, evaluator)
        evaluator.save()
        entry = {"layer": name, "args": layer.args(), "subspace_configs": size, "subspace_evaluated": evaluated,
                 "subspace_best_seconds": best, "subspace_best": where, "brute_force_seconds": time.time() - tic,
                 "arco_tuner": [], "arco_codesign": []}
        for seed in range(args.seeds):
            if "arco_tuner" in methods:
                curve, entry["joint_space_configs"] = arco_on_layer(layer, evaluator, args.budget, seed)
                entry["arco_tuner"].append(arco_result(seed, curve, best))
            if "arco_codesign" in methods:
                curve, hardware = codesign_on_layer(layer, evaluator, args.budget, seed)
                entry["arco_codesign"].append({**arco_result(seed, curve, best), "hardware": hardware})
            evaluator.save()
        out["layers"].append(entry)
        for method in methods:
            print(f"{name}: sub-space best {best * 1e3:.3f} ms over {evaluated} evaluated of {size}; {method} "
                  + ", ".join(f"{a['best_seconds'] * 1e3:.3f} ms (to 2%: {a['evaluations_to_within_2pct']})"
                              for a in entry[method]), flush=True)
        with open(args.out, "w", encoding="utf-8") as handle:  # after every layer: partial results survive
            json.dump(out, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
