"""Network-level hardware/software co-design: one accelerator serves every layer of a network.

    python -m tvm_arco_plugin.codesign --network resnet18|vgg16 --budget N --seed S --out codesign.json

Objective: network throughput = 1 / sum over layers of (count x best modelled latency). All three
methods spend the same total budget of N evaluations (one evaluation = one config measured through
the ZigZag Runner, valid or not):

* ``arco``: the hardware agent proposes accelerators (ARCO's search engine over the ``hw_*`` knobs,
  its surrogate fitted on measured network throughputs), scored with hand schedules; the software
  agents (an ARCOTuner per layer with the hardware pinned) co-tune the best few, then the best one
  (``run_arco``).
* ``autotvm_default_hw``: the hand schedule, then XGBTuner on every layer of VTA's default accelerator,
  the rest of N split evenly.
* ``hw_sweep_then_autotvm``: half of N sweeps accelerators with the fixed hand schedule
  (``default_schedule``), the other half runs XGBTuner on every layer of the best one.
"""
import json
import logging
import math
import time

import numpy as np
from tvm import autotvm

from ..checks import OneLineParser, check_seed, check_writable, parser_checks
from ..search.engine import ARCOSearch, SearchSettings, ValidityMask
from ..search.knobs import Knob, KnobLayout
from ..tuner import ARCOTuner, seed_everything
from .accelerator import DEFAULT_VTA, HW_CHOICES, NETWORK_LAYERS, ResourceBudget, hardware_from_knobs, \
    knobs_from_hardware
from .template import ZigZagBuilder, ZigZagRunner, create_task
from .zigzag_model import ZigZagEvaluator, default_schedule

logger = logging.getLogger("tvm_arco_plugin.codesign")

HW_NAMES = list(HW_CHOICES)


def hardware_layout():
    return KnobLayout([Knob(name, "OtherOptionSpace", len(HW_CHOICES[name])) for name in HW_NAMES])


def hardware_at(layout, index):
    knobs = layout.to_knobs([index])[0]
    return hardware_from_knobs({name: HW_CHOICES[name][k] for name, k in zip(HW_NAMES, knobs)})


def index_of_hardware(layout, hw):
    values = knobs_from_hardware(hw)
    return int(layout.to_index([[HW_CHOICES[name].index(values[name]) for name in HW_NAMES]])[0])


def config_index(space, values):
    """Index of the config whose knobs take ``values`` (a dict of knob name -> value)."""
    knob = [[e.val for e in space.space_map[name].entities].index(values[name]) if name in values else 0
            for name in space.space_map]
    return space.knob2point(knob)


class Session:
    """One method's run: a shared ZigZag runner that counts evaluations, and the best-so-far curve.

    ``layers``: ``[(ConvLayer, count), ...]``, a network's (``NETWORK_LAYERS[name]()``) or one layer's.
    """

    def __init__(self, layers, evaluator, budget, seed):
        self.layers = list(layers)
        self.runner = ZigZagRunner(evaluator)
        self.option = {"builder": ZigZagBuilder(n_parallel=8), "runner": self.runner}
        self.budget, self.seed = budget, seed
        self.latency = {}  # hw -> [best latency per layer]
        self.curve = []  # (evaluations, best network throughput so far)
        self.hand = {}  # (hw, layer position) -> (task, config, result) of the hand schedule
        self.tic = time.perf_counter()

    @property
    def evaluations(self):
        return self.runner.evaluations

    @property
    def left(self):
        return self.budget - self.evaluations

    def network_latency(self, hw):
        per_layer = self.latency.get(hw)
        if per_layer is None or any(math.isinf(x) for x in per_layer):
            return math.inf
        return sum(count * x for (_, count), x in zip(self.layers, per_layer))

    def best(self):
        if not self.latency:
            return None, 0.0
        hw = min(self.latency, key=self.network_latency)
        total = self.network_latency(hw)
        return hw, (0.0 if math.isinf(total) else 1.0 / total)

    def note(self, hw, layer_position, tuner_or_latency):
        best = tuner_or_latency if isinstance(tuner_or_latency, float) else _best_latency(tuner_or_latency)
        row = self.latency.setdefault(hw, [math.inf] * len(self.layers))
        row[layer_position] = min(row[layer_position], best)
        self.curve.append((self.evaluations, self.best()[1], round(time.perf_counter() - self.tic, 3)))

    def tune(self, tuner, hw, position, n_trial):
        n_trial = min(n_trial, self.left)
        if n_trial > 0:
            tuner.set_error_threshold(10 ** 9)  # most joint configs are invalid: that is not a reason to log DEBUG
            tuner.tune(n_trial=n_trial, measure_option=self.option)
        self.note(hw, position, tuner)

    def hand_schedule_latency(self, hw, position):
        """Measure the hand schedule of one layer on ``hw`` (one evaluation) -> seconds, inf if invalid."""
        layer = self.layers[position][0]
        schedule = default_schedule(layer, hw)
        if schedule is None:  # no tile fits this hardware's buffers
            return math.inf
        task = create_task(layer, hw)
        config = task.config_space.get(config_index(task.config_space, schedule))
        result = self.runner.measure(autotvm.MeasureInput(task.target, task, config))
        self.hand[(hw, position)] = (task, config, result)
        return float(np.mean(result.costs)) if result.error_no == 0 else math.inf

    def summary(self):
        hw, throughput = self.best()
        return {"hardware": hw.as_dict() if hw else None, "throughput": throughput,
                "evaluations": self.evaluations, "seconds": time.perf_counter() - self.tic,
                "curve": self.curve}


def _best_latency(tuner):
    return tuner.task.flop / tuner.best_flops if tuner.best_flops > 0 else math.inf


def _split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_autotvm_default_hw(session):
    # Like a VTA user, start from the hand schedule (the fallback when tuning finds nothing better).
    for position in range(len(session.layers)):
        session.note(DEFAULT_VTA, position, session.hand_schedule_latency(DEFAULT_VTA, position))
    for position, (layer, _), n_trial in zip(range(len(session.layers)), session.layers,
                                              _split(session.left, len(session.layers))):
        seed_everything(session.seed + position)
        tuner = autotvm.tuner.XGBTuner(create_task(layer, DEFAULT_VTA), feature_type="knob")
        session.tune(tuner, DEFAULT_VTA, position, n_trial)
    return session.summary()


def run_hw_sweep_then_autotvm(session):
    layout = hardware_layout()
    rng = np.random.default_rng(session.seed)
    budget_ok = [i for i in range(layout.range_length) if ResourceBudget().violation(hardware_at(layout, i)) is None]
    order = [index_of_hardware(layout, DEFAULT_VTA)] + [int(i) for i in rng.permutation(budget_ok)]
    # The default accelerator is always scored (minimum_budget leaves room for it), then random ones.
    sweep_budget = max(session.budget // 2, len(session.layers))
    for index in dict.fromkeys(order):  # default first, then random, without repeats
        if session.evaluations + len(session.layers) > sweep_budget:
            break
        hw = hardware_at(layout, index)
        for position, (layer, _) in enumerate(session.layers):
            session.note(hw, position, session.hand_schedule_latency(hw, position))
    hw, _ = session.best()
    for position, ((layer, _), n_trial) in enumerate(zip(session.layers, _split(session.left, len(session.layers)))):
        seed_everything(session.seed + position)
        tuner = autotvm.tuner.XGBTuner(create_task(layer, hw), feature_type="knob")
        session.tune(tuner, hw, position, n_trial)
    return session.summary()


def run_arco(session, explore_share=0.45, finalists=3, cotune_trials=8, hw_batch=4, hw_initial=16,
             hw_random_share=0.5, ablation=None):
    """ARCO at network level, in three phases over one budget:

    1. the hardware agent explores accelerators (Latin-hypercube designs first, then ARCO's search
       engine on a surrogate of network throughput over the hw knobs), each scored cheaply with the
       hand schedule of every layer (one evaluation per layer);
    2. the software agents co-tune every layer of the best few accelerators briefly (schedules suit
       hardware differently, so the ranking can change) and the hardware agent learns the new scores;
    3. the rest of the budget tunes the best accelerator's layers, slowest layers first in line.

    ``ablation``: SearchSettings changes for every search of the run (the hardware agent's and the
    layers'), e.g. ``{"candidate_source": "random"}`` or ``{"learning": False}``.
    """
    ablation = dict(ablation or {})
    layout = hardware_layout()
    valid = [ResourceBudget().violation(hardware_at(layout, i)) is None for i in range(layout.range_length)]
    hw_search = ARCOSearch(layout, ValidityMask(layout.range_length, valid), seed=session.seed,
                           # The hardware space is small (a few hundred valid accelerators) and its surrogate
                           # sees only a few dozen of them: explore more than on schedule spaces.
                           settings=SearchSettings(init_trials=hw_initial, explore_every=hw_batch,
                                                   exploration_share=hw_random_share, **ablation))
    hw_model = HardwareSurrogate(layout)
    n_layers = len(session.layers)

    def learn(hw):
        latency = session.network_latency(hw)
        throughput = 0.0 if math.isinf(latency) else 1.0 / latency
        hw_search.observe([index_of_hardware(layout, hw)], [throughput])
        hw_model.add(index_of_hardware(layout, hw), throughput)

    def score_with_hand_schedules(hw):
        for position in range(n_layers):
            session.note(hw, position, session.hand_schedule_latency(hw, position))
        learn(hw)

    score_with_hand_schedules(DEFAULT_VTA)
    while session.evaluations + n_layers <= session.budget * explore_share:
        proposals = hw_search.propose(hw_batch, hw_model.predict if hw_model.ready else None)
        if not proposals:
            break
        for index in proposals:
            if session.evaluations + n_layers > session.budget * explore_share:
                break
            score_with_hand_schedules(hardware_at(layout, index))

    tuners = {}

    def tuner_for(hw, position):
        if (hw, position) not in tuners:
            tuner = ARCOTuner(create_task(session.layers[position][0], hw), seed=session.seed + position,
                              settings=SearchSettings(**ablation))
            hand = session.hand.get((hw, position))
            if hand is not None:  # the hand schedule's measurement seeds the software agents
                task, config, result = hand
                tuner.update([autotvm.MeasureInput(task.target, task, config)], [result])
            tuners[(hw, position)] = tuner
        return tuners[(hw, position)]

    ranked = sorted((hw for hw in session.latency if not math.isinf(session.network_latency(hw))),
                    key=session.network_latency)
    # The finalists are the best accelerators of different GEMM cores: buffer variants of one core rank
    # together under the hand schedule, and the core is what tuned schedules can change the ranking of.
    by_core = {}
    for hw in ranked:
        by_core.setdefault((hw.batch, hw.block_in, hw.block_out), hw)
    for hw in list(by_core.values())[:finalists]:
        for position in range(n_layers):
            session.tune(tuner_for(hw, position), hw, position, cotune_trials)
        learn(hw)

    hw, _ = session.best()
    while session.left > 0:
        shares = np.array([count * session.latency[hw][p] for p, (_, count) in enumerate(session.layers)])
        shares = shares / shares.sum()
        before = session.evaluations
        for position, n_trial in enumerate(np.maximum(8, np.round(shares * min(session.left, 400))).astype(int)):
            session.tune(tuner_for(hw, position), hw, position, int(n_trial))
        if session.evaluations == before:  # every layer's space exhausted
            break
    return session.summary()


class HardwareSurrogate:
    """Network throughput predicted from the hardware knobs (XGBoost regression, as for schedules)."""

    def __init__(self, layout):
        self.layout, self.xs, self.ys, self.booster = layout, [], [], None

    @property
    def ready(self):
        return self.booster is not None

    def add(self, index, throughput):
        import xgboost as xgb

        self.xs.append(index)
        self.ys.append(throughput)
        if len(self.xs) >= 4 and max(self.ys) > 0:
            data = xgb.DMatrix(self.layout.normalise(self.layout.to_knobs(self.xs)),
                               label=np.array(self.ys) / max(self.ys))
            self.booster = xgb.train({"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror", "seed": 0,
                                      "nthread": 1}, data, num_boost_round=30)

    def predict(self, indexes):
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(self.layout.normalise(self.layout.to_knobs(indexes))))


METHODS = {"arco": run_arco,
           "arco_noagents": lambda session: run_arco(session, ablation={"candidate_source": "random"}),
           "arco_frozen": lambda session: run_arco(session, ablation={"learning": False}),
           "autotvm_default_hw": run_autotvm_default_hw,
           "hw_sweep_then_autotvm": run_hw_sweep_then_autotvm}
DEFAULT_METHODS = ("arco", "autotvm_default_hw", "hw_sweep_then_autotvm")


def codesign(network, budget, seed, methods=DEFAULT_METHODS, cache_path=None):
    # Every method starts from the same cache state (seconds stay comparable); their new results are
    # merged into the cache file at the end.
    shared = ZigZagEvaluator(cache_path)
    evaluators = []
    out = {"network": network, "budget": budget, "seed": seed, "hardware": {}, "throughput": {}, "evaluations": {},
           "seconds": {}, "hardware_by_method": {}, "curves": {}}
    for name in methods:
        evaluator = ZigZagEvaluator()
        evaluator.cache = dict(shared.cache)
        evaluators.append(evaluator)
        result = METHODS[name](Session(NETWORK_LAYERS[network](), evaluator, budget, seed))
        out["throughput"][name] = result["throughput"]
        out["evaluations"][name] = result["evaluations"]
        out["seconds"][name] = result["seconds"]
        out["hardware_by_method"][name] = result["hardware"]
        out["curves"][name] = result["curve"]
        logger.info("%s on %s: %.2f inferences/s modelled, %d evaluations, %.0f s", name, network,
                    result["throughput"], result["evaluations"], result["seconds"])
    if "arco" in out["hardware_by_method"]:
        out["hardware"] = out["hardware_by_method"]["arco"]
    # The GEMM roofline: every MAC of the budget busy every cycle (no accelerator can beat it).
    roofline = ResourceBudget().macs * DEFAULT_VTA.clock_mhz * 1e6 / sum(
        layer.macs * count for layer, count in NETWORK_LAYERS[network]())
    out["gemm_roofline"] = roofline
    out["roofline_fraction"] = {name: t / roofline for name, t in out["throughput"].items()}
    if "autotvm_default_hw" in out["throughput"]:
        target = out["throughput"]["autotvm_default_hw"]
        out["vs_autotvm_default_hw"] = {name: t / target for name, t in out["throughput"].items()}
        for name in (m for m in out["curves"] if m.startswith("arco")):
            reached = [(e, sec) for e, t, sec in out["curves"][name] if t >= target]
            out.setdefault("evaluations_to_reach_autotvm_default_hw", {})[name] = reached[0][0] if reached else None
            out.setdefault("seconds_to_reach_autotvm_default_hw", {})[name] = reached[0][1] if reached else None
        if "arco" in out["curves"]:
            out["arco_evaluations_to_reach_autotvm_default_hw"] = out["evaluations_to_reach_autotvm_default_hw"]["arco"]
    for evaluator in evaluators:
        shared.cache.update(evaluator.cache)
    shared.save()
    return out


def minimum_budget(network):
    """Evaluations every method needs at least: the hand schedule of each layer on one accelerator, then
    one tuning trial per layer."""
    return 2 * len(NETWORK_LAYERS[network]())


def main(argv=None):
    parser = OneLineParser(prog="python -m tvm_arco_plugin.codesign",
                           description="Network-level co-design of a VTA-like accelerator (ZigZag model).")
    parser.add_argument("--network", choices=sorted(NETWORK_LAYERS), default="resnet18")
    parser.add_argument("--budget", type=int, default=1000, help="total evaluations per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma list of {','.join(METHODS)}")
    parser.add_argument("--cache", help="JSON file caching ZigZag results across runs")
    parser.add_argument("--out", default="codesign.json")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {','.join(METHODS)}")
    least = minimum_budget(args.network)
    if args.budget < least:
        parser.error(f"--budget must be at least {least} for {args.network} (one hand schedule and one tuning "
                     f"trial for each of its {least // 2} layers), got {args.budget}")
    parser_checks(parser, lambda: check_seed(args.seed), lambda: check_writable(args.out, "--out"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = codesign(args.network, args.budget, args.seed, methods, args.cache)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    for name in methods:
        extra = ""
        if "vs_autotvm_default_hw" in out:
            reach = out.get("seconds_to_reach_autotvm_default_hw", {}).get(name)
            extra = (f"  {out['vs_autotvm_default_hw'][name]:.3f}x default_hw"
                     + (f", reached it after {reach:.0f} s" if reach is not None else ""))
        print(f"{name:24s} throughput {out['throughput'][name]:9.2f} /s  evaluations {out['evaluations'][name]:5d}  "
              f"{out['seconds'][name]:6.1f} s  {out['roofline_fraction'][name]:.3f} of the GEMM roofline{extra}")
    return 0
