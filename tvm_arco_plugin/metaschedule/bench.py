"""Live MetaSchedule benchmark: ARCOSearchStrategy against EvolutionarySearch and replay-trace.

    python -m tvm_arco_plugin.metaschedule.bench --workloads matmul_512,resnet18_conv2d_56 \\
        --strategies arco,evolutionary,replay-trace --seeds 0,1,2 --budget 256 --out ms_bench.json

Every run is a real ``ms.tune_tir`` on this machine (LocalBuilder with the tensor-intrinsics
initializer, one for all runs of an invocation since 2026-12-02, LocalRunner), the same trials per iteration, database, cost model and task scheduler for
every strategy. The JSON keeps, per run, the best GFLOP/s after every trial (in measurement order),
the strategy's own time, and the whole run's time; it is rewritten after every run, so an interrupted
benchmark keeps what it finished. ``--plot`` draws the best-so-far curves. ``--prior`` trains every
strategy's cost model on earlier tunes first (prior.py); ``--simulate`` answers run times from a model
of the workload's recorded timings instead of building and timing (simulate.py). ``--retime R`` keeps
each run's best schedules and, once every strategy of a workload and seed has run, times them together
in R rounds (retime.py), so that the bests are also compared on one machine state rather than on
single lucky timings.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np

from ..search.marl import PPOSettings
from ..target import host_cpu  # runs of two CPUs are not comparable, so one results file holds one
from ._tvm import require_metaschedule
from .space import design_space_labels, design_space_of, structure_of
from .workloads import WORKLOADS, default_target, workload

# The agents learning faster: 10 PPO epochs at learning rate 3e-3 per round instead of 4 at 1e-3 (the default
# policies stay near uniform over a tune's few rounds).
FAST_LEARNING = {"learning_rate": 3e-3, "epochs": 10}

# ARCO's ablations: the same strategy with one mechanism taken out (settings: changes to the strategy's
# default_settings()).
ARCO_VARIANTS = {
    "arco": {},
    "arco_noagents": {"settings": {"candidate_source": "random"}},  # random candidates instead of the walks
    "arco_frozen": {"settings": {"learning": False}},  # the agents walk with their initial policies
    # Confidence Sampling taken out: each engine offers its n best-scored candidates (a threshold of 1 keeps only
    # the best in the confident set, and the rest of the batch is filled by score).
    "arco_nocs": {"settings": {"cs_threshold": 1.0}},
    # Not an ablation: Confidence Sampling that samples (temperature 3: the confident set holds the candidates within
    # 3.6 standard deviations of the best prediction, often more than an offer); at 0.1 its picks are the best-scored.
    "arco_widecs": {"settings": {"cs_temperature": 3.0}},
    "arco_fullbatch": {"first_batch": 0},  # every batch num_trials_per_iter, no small first batches
    # Not an ablation: smaller first batches (8, 8, 16, 32, then num_trials_per_iter), one more model round in 64 trials.
    "arco_firstbatch8": {"first_batch": 8},
    # Not an ablation: random configs and the first batch draw every innermost tiling factor equally often.
    "arco_innermostfirst": {"tilings": "innermost_first"},
    # The agents move a prime factor between two levels of a tiling instead of setting any tiling.
    "arco_factormoves": {"tile_moves": "factor"},
    # Factor moves, and the agents see each level's factor of a tiling instead of the tiling's index.
    "arco_factorview": {"tile_moves": "factor", "tile_observation": "factors"},
    # Not an ablation: the local walks in 4 generations, each from the best the round has scored so far.
    "arco_generations": {"settings": {"generations": 4}},
    # The default until 2026-12-01 ("arco" in earlier result files): the global half of the budget on short
    # walks from random configs instead of the random configs themselves.
    "arco_globalwalks": {"settings": {"global_horizon": 4}},
    # Not ablations: the agents learn faster, alone and with factor moves (fewer actions to learn) ...
    "arco_fastlearning": {"settings": {"ppo": PPOSettings(**FAST_LEARNING)}},
    "arco_factormoves_fastlearning": {"tile_moves": "factor", "settings": {"ppo": PPOSettings(**FAST_LEARNING)}},
    # ... and as fast without PPO's trust region (a ratio clip of 10 never binds): the policies leave uniform.
    "arco_sharplearning": {"settings": {"ppo": PPOSettings(**FAST_LEARNING, clip_coef=10.0)}},
    # Not an ablation: a round's candidate budget split over the design spaces by their share of the last batch.
    "arco_spacebudget": {"space_budget": "by_picks"},
    # Not an ablation: 4 generations of local walks once the task's cost model has learnt from 100 results
    # (better in simulation, not live: not the default).
    "arco_lategenerations": {"late_generations": 4},
    # The default until 2026-12-03 ("arco" in earlier result files): every round scores 2,048 candidates, not
    # 2,048 x batch / num_trials_per_iter (512 for a batch of 16).
    "arco_fixedbudget": {"round_budget": "fixed"},
    # Not ablations: batches of at most 32 or 16 (num_trials_per_iter 64), more updates of the cost model.
    "arco_batch32": {"max_batch": 32},
    "arco_batch16": {"max_batch": 16},
    # Not an ablation: 256 walkers instead of 64, so the local walks start from the 64 best measured configs and
    # the 64 best candidates of the last round (EvolutionarySearch starts from a fifth of its 512 from the
    # measured best) and, on the same budget, most walkers go one step instead of about five.
    "arco_widestarts": {"settings": {"ppo": PPOSettings(walkers=256)}},
    # Not an ablation: the random half's candidates compete with the walks' finds for every slot of a batch,
    # as EvolutionarySearch ranks all it scored (by default they are measured through the next round's elite).
    "arco_onepool": {"settings": {"global_competes": True}},
    # Not an ablation: half of every batch split evenly over the design spaces (a quarter by default), the rest
    # by predicted score, so that the spaces the model rates lower keep being measured late in a run.
    "arco_spaceshare50": {"min_space_share": 0.5},
    # Not an ablation: the batch beyond the guaranteed quarter split over the design spaces by their share of the
    # task's 16 fastest measured configs (EvolutionarySearch's population grows from the measured best), not
    # by predicted score across spaces.
    "arco_spacebymeasured": {"space_picks": "by_measured"},
    # Not an ablation: the same, counting only the fastest measured config, so the batch beyond the quarter
    # follows the design space of the task's best so far.
    "arco_spacebybest": {"space_picks": "by_measured", "measured_top": 1},
    # Not an ablation: 3 of every 64 trials (once a model has learnt) on random configs, as EvolutionarySearch's
    # eps_greedy of 0.05 spends them; the model's picks alone never measure a config it rates low.
    "arco_epsgreedy": {"random_share": 0.05},
    # Not an ablation: ARCO's batches up to 128 results, then MetaSchedule's EvolutionarySearch from the database
    # ARCO filled (ARCO leads early, EvolutionarySearch gains more late).
    "arco_thenevolutionary": {"evolutionary_after": 128},
}
STRATEGIES = tuple(ARCO_VARIANTS) + ("evolutionary", "replay-trace")


def _recorder(ms, sink, traces=None, task_ids=None):
    from tvm.ir.utils import derived_object

    @derived_object
    class RecordRunTimes(ms.measure_callback.PyMeasureCallback):
        """Run times in measurement order (the database keeps records sorted by run time), and the
        candidates' traces and task ids when ``traces`` and ``task_ids`` are lists."""

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            from .strategy import run_seconds

            sink.extend(run_seconds(r) for r in runner_results)
            if traces is not None:
                traces.extend(c.sch.trace for c in measure_candidates)
            if task_ids is not None:
                task_ids.extend([int(task_id)] * len(runner_results))

    return RecordRunTimes()


def strategy_seconds(profile, arco_stats):
    """Seconds spent inside the search strategy: ARCO counts its own; EvolutionarySearch reports its
    phases to MetaSchedule's profiler (``EvoSearch/...`` scopes); replay-trace reports none."""
    if arco_stats is not None:
        return arco_stats.search_seconds
    evo = {scope: seconds for scope, seconds in profile.items() if scope.startswith("EvoSearch/")}
    # A scope inside another profiled scope (EvoSearch/Evolve/Misc/CopyMeasuredWorkloads in .../Misc)
    # is already part of its parent's time.
    outermost = [seconds for scope, seconds in evo.items()
                 if not any(scope.startswith(parent + "/") for parent in evo if parent != scope)]
    return float(sum(outermost)) if outermost else None


def load_runs(path, cpu):
    """The runs already in ``path``; ValueError (one line) when it is not a results file of this CPU."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        runs = saved["runs"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a results file of this benchmark ({err!r}); use another --out") from None
    if runs and saved.get("cpu") != cpu:
        raise ValueError(f"{path} holds runs measured on CPU {saved.get('cpu') or '(not recorded)'} and this "
                         f"machine's is {cpu}: their timings are not comparable; use another --out")
    return runs


def arco_variant(strategy_name, seed):
    """The ARCOSearchStrategy of a name of ``ARCO_VARIANTS``, seeded; None for MetaSchedule's own strategies."""
    from .strategy import ARCOSearchStrategy, default_settings

    if strategy_name not in ARCO_VARIANTS:
        return None
    variant = dict(ARCO_VARIANTS[strategy_name])
    return ARCOSearchStrategy(seed=seed, settings=default_settings(**variant.pop("settings", {})), **variant)


def run_one(workload_name, strategy_name, seed, budget, per_iter, prior=(), simulate=(), keep_top=0, builder=None,
            runner_repeat=1, retrain_prior=False):
    """One tune; ``keep_top``: keep the run's ``keep_top`` fastest schedules at every checkpoint for
    re-timing (retime.py); ``builder``: a live run's builder (``local_builder()``; by default one of its
    own, shut down after the run); ``runner_repeat``: timings per candidate (LocalRunner's ``repeat``;
    the database ranks a schedule by their mean); ``retrain_prior``: the prior-trained model retrains at
    every batch (XGBModel's adaptive training off)."""
    tvm, ms = require_metaschedule()
    from .builder import local_builder

    mod = workload(workload_name)
    cost_model = "xgb"
    if prior:  # every strategy gets the same prior-trained model; never one that saw this workload
        from .prior import cost_model_from_databases

        cost_model = cost_model_from_databases(prior, default_target(), exclude=[mod], seed=seed,
                                               adaptive_training=not retrain_prior)
    flops = float(tvm.s_tir.analysis.estimate_tir_flops(mod))
    arco = arco_variant(strategy_name, seed)
    seconds, traces = [], []
    callbacks = ms.measure_callback.MeasureCallback.create("default") + [_recorder(ms, seconds, traces)]
    tic = time.time()
    if simulate:  # run times answered by a model of this workload's records (simulate.py), nothing built
        from .simulate import simulated_measurement

        builder, runner = simulated_measurement(simulate, mod, default_target())
    own_builder = not simulate and builder is None
    if not simulate:
        builder = builder or local_builder()
        runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(repeat=runner_repeat))
    try:
        with tempfile.TemporaryDirectory() as work_dir, ms.Profiler() as profiler:
            ms.tune_tir(mod, default_target(), work_dir, max_trials_global=budget, num_trials_per_iter=per_iter,
                        strategy=arco if arco is not None else strategy_name, builder=builder, runner=runner,
                        measure_callbacks=callbacks, seed=seed, cost_model=cost_model)
            profile = {k: float(v) for k, v in profiler.get().items()}
    finally:
        if own_builder:
            builder.shutdown()
    best, curve = 0.0, []
    for sec in seconds:
        if sec is not None:
            best = max(best, flops / sec / 1e9)
        curve.append(best)
    structures = [structure_of(space.trace) for space in ms.TuneContext(
        mod=mod, target=default_target(), space_generator="post-order-apply", task_name="main",
        rand_state=seed).generate_design_space()]
    kept = None
    if keep_top:
        from .retime import checkpoints_for, kept_schedules

        kept = kept_schedules(seconds, traces, checkpoints_for(budget), keep_top)
    return {
        "workload": workload_name, "strategy": strategy_name, "seed": seed, "budget": budget, "per_iter": per_iter,
        "prior": list(prior), "simulated": list(simulate), "runner_repeat": runner_repeat,
        "prior_retrained": bool(prior) and retrain_prior,
        "flops": flops, "best_gflops_curve": curve, "failed": sum(s is None for s in seconds),
        "strategy_seconds": strategy_seconds(profile, arco.stats if arco else None),
        "total_seconds": time.time() - tic, "profile_seconds": profile,
        # Per design space: share of measured configs only an agents' move reached, entropy in each round's walks.
        "agents": None if arco is None else arco.stats.agents,
        # What an ARCO variant ran with, so that a file stays readable when the defaults change.
        "arco_settings": None if arco is None else {**dataclasses.asdict(arco.settings), "first_batch": arco.first_batch,
                                                   "tilings": arco.tilings, "tile_moves": arco.tile_moves,
                                                   "tile_observation": arco.tile_observation,
                                                   "space_budget": arco.space_budget,
                                                   "late_generations": arco.late_generations,
                                                   "round_budget": arco.round_budget,
                                                   "max_batch": arco.max_batch, "space_picks": arco.space_picks,
                                                   "measured_top": arco.measured_top,
                                                   "random_share": arco.random_share,
                                                   "evolutionary_after": arco.evolutionary_after,
                                                   "min_space_share": arco.min_space_share},
        "kept": kept,
        # The design space (an index into design_spaces) each measured config is a replay of, in measurement
        # order; -1 for a trace of none (EvolutionarySearch's MutateParallel changes an annotation).
        "design_spaces": design_space_labels(structures),
        "design_space_per_trial": [-1 if i is None else i for i in (design_space_of(t, structures) for t in traces)],
    }


def best_at(run, trials):
    curve = run["best_gflops_curve"][:trials]
    return curve[-1] if curve else 0.0


def trials_to_reach(run, target, within):
    """Trials until the run's best reaches ``target``, None if not within the first ``within`` (a run longer
    than the budget it is judged at must not count a later reach)."""
    return next((i + 1 for i, v in enumerate(run["best_gflops_curve"][:within]) if v >= target), None)


def summarise(runs, budgets=(64, 128, 256), reference="evolutionary", challenger="arco"):
    """Per workload: mean best GFLOP/s at each budget per strategy; the trials ``challenger`` needs to reach the
    reference's best at the largest budget (per seed, as a share of that budget); time in the strategy
    per trial."""
    out = {}
    for name in sorted({r["workload"] for r in runs}):
        mine = [r for r in runs if r["workload"] == name]
        row = {"best_gflops": {}, "strategy_seconds_per_trial": {}}
        for strategy in sorted({r["strategy"] for r in mine}):
            theirs = [r for r in mine if r["strategy"] == strategy]
            row["best_gflops"][strategy] = {b: float(np.mean([best_at(r, b) for r in theirs])) for b in budgets}
            timed = [r["strategy_seconds"] / len(r["best_gflops_curve"]) for r in theirs
                     if r["strategy_seconds"] is not None and r["best_gflops_curve"]]
            row["strategy_seconds_per_trial"][strategy] = float(np.mean(timed)) if timed else None
            retimed = [r["retimed"]["gflops"] for r in theirs if r.get("retimed")]
            if retimed:
                row.setdefault("retimed_gflops", {})[strategy] = {
                    c: {kind: float(np.mean([g[c][kind] for g in retimed])) for kind in ("top1", "best_of_top")}
                    for c in retimed[0] if all(c in g for g in retimed)}
        top = max(budgets)
        ratios = []
        for arco in (r for r in mine if r["strategy"] == challenger):
            ref = [r for r in mine if r["strategy"] == reference and r["seed"] == arco["seed"]]
            if ref:
                reached = trials_to_reach(arco, best_at(ref[0], top), within=top)
                ratios.append((arco["seed"], None if reached is None else reached / top))
        row["%s_trials_to_reference_best_at_%d" % (challenger, top)] = ratios
        out[name] = row
    return out


def targets(runs, challenger="arco", reference="evolutionary", budget=256, early=64, time_limit=2.0):
    """Issue #13's three targets, over the (workload, seed) pairs both strategies ran.

    - trials to the reference's best at ``budget``, as a share of ``budget``, geometric mean over the
      pairs: a run that never reaches it counts as 1.0, so the mean is then a lower bound (``bounded``);
    - best at ``early`` trials, mean over seeds, at least the reference's on every workload (and per run);
    - strategy seconds per trial, the challenger's over the reference's, per workload."""
    pairs = []
    for mine in (r for r in runs if r["strategy"] == challenger):
        ref = [r for r in runs if r["strategy"] == reference and r["workload"] == mine["workload"]
               and r["seed"] == mine["seed"] and r["budget"] == mine["budget"]]
        if ref and len(mine["best_gflops_curve"]) >= budget and len(ref[0]["best_gflops_curve"]) >= budget:
            pairs.append((mine, ref[0]))
    if not pairs:
        return {}
    reach = [trials_to_reach(m, best_at(r, budget), within=budget) for m, r in pairs]
    geomean = float(np.exp(np.mean(np.log([1.0 if n is None else n / budget for n in reach]))))
    early_rows, time_rows = {}, {}
    for name in sorted({m["workload"] for m, _ in pairs}):
        mine = [(m, r) for m, r in pairs if m["workload"] == name]
        ours, theirs = (float(np.mean([best_at(run, early) for run in side])) for side in zip(*mine))
        early_rows[name] = {challenger: ours, reference: theirs, "met": ours >= theirs}
        per_trial = [[run["strategy_seconds"] / len(run["best_gflops_curve"]) for run in side
                      if run["strategy_seconds"] is not None] for side in zip(*mine)]
        if all(per_trial):
            time_rows[name] = float(np.mean(per_trial[0]) / np.mean(per_trial[1]))
    verdict = {
        "pairs": [[m["workload"], m["seed"]] for m, _ in pairs],
        "trials_to_reference_best": {
            "trials": reach, "reached": sum(n is not None for n in reach),
            "geomean_share": geomean, "bounded": None in reach, "met": None not in reach and geomean <= 0.5},
        "best_at_%d" % early: {
            "per_workload": early_rows, "met": all(row["met"] for row in early_rows.values()),
            "runs_at_least_reference": sum(best_at(m, early) >= best_at(r, early) for m, r in pairs)},
        "strategy_time_ratio": {"per_workload": time_rows,
                                "met": bool(time_rows) and max(time_rows.values()) <= time_limit},
    }
    retimed = [(m["workload"], m["retimed"]["gflops"], r["retimed"]["gflops"]) for m, r in pairs
               if m.get("retimed") and r.get("retimed")]
    if retimed:
        verdict["retimed"] = retimed_targets(retimed, challenger, reference, budget, early)
    return verdict


def retimed_targets(pairs, challenger, reference, budget, early):
    """The first two targets on re-timed schedules (retime.py), over (workload, challenger's ``retimed
    ["gflops"]``, reference's) of the runs ``targets`` paired: the challenger's deployed schedule
    (``top1``) at ``budget // 2`` trials against the reference's at ``budget`` (reached in half the
    trials or not), and at ``early`` trials against the reference's at ``early``; and per round, the
    re-timed bests at ``early`` compared within the round."""
    half, early, budget = str(budget // 2), str(early), str(budget)
    early_rows = {}
    for name in sorted({w for w, _, _ in pairs}):
        mine = [(m, r) for w, m, r in pairs if w == name and early in m and early in r]
        if mine:
            ours, theirs = (float(np.mean([g[early]["top1"] for g in side])) for side in zip(*mine))
            early_rows[name] = {challenger: ours, reference: theirs, "met": ours >= theirs}
    halves = [(m[half]["top1"], r[budget]["top1"]) for _, m, r in pairs if half in m and budget in r]
    rounds = [(a, b) for _, m, r in pairs if early in m and early in r
              for a, b in zip(m[early]["best_of_top_per_round"], r[early]["best_of_top_per_round"])]
    return {
        "half_budget_reaches_reference": {"pairs": len(halves), "reached": sum(a >= b for a, b in halves),
                                          "met": bool(halves) and all(a >= b for a, b in halves)},
        "best_at_%s" % early: {"per_workload": early_rows, "met": bool(early_rows) and all(
            row["met"] for row in early_rows.values())},
        "rounds_at_least_reference_at_%s" % early: [sum(a >= b for a, b in rounds), len(rounds)],
    }


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["workload"] for r in runs})
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    colours = {"arco": "tab:red", "arco_noagents": "tab:orange", "arco_frozen": "tab:pink",
               "arco_nocs": "black", "arco_widecs": "gray",
               "arco_fullbatch": "tab:brown", "arco_generations": "tab:purple",
               "arco_globalwalks": "tab:olive", "arco_factormoves": "tab:cyan", "arco_fastlearning": "tab:green",
               "arco_factormoves_fastlearning": "darkcyan", "arco_sharplearning": "darkgreen",
               "arco_spacebudget": "crimson", "arco_lategenerations": "indigo",
               "arco_widestarts": "goldenrod", "arco_onepool": "magenta", "arco_spaceshare50": "sienna",
               "arco_spacebymeasured": "olivedrab", "arco_epsgreedy": "teal",
               "arco_spacebybest": "darkkhaki",
               "evolutionary": "tab:blue", "replay-trace": "tab:gray"}
    for ax, name in zip(axes[0], names):
        for r in (r for r in runs if r["workload"] == name):
            ax.plot(range(1, len(r["best_gflops_curve"]) + 1), r["best_gflops_curve"],
                    color=colours.get(r["strategy"], "k"), alpha=0.7,
                    label=r["strategy"] if r["seed"] == min(x["seed"] for x in runs) else None)
        ax.set_title(name)
        ax.set_xlabel("measured trials")
        ax.set_ylabel("best GFLOP/s")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--per-iter", type=int, default=64)
    parser.add_argument("--out", required=True, help="JSON file; runs already in it are kept and not re-run")
    parser.add_argument("--plot", help="PNG of the best-so-far curves")
    parser.add_argument("--challenger", default="arco", help="the strategy checked against EvolutionarySearch in "
                        "the JSON's targets (e.g. an ARCO variant)")
    parser.add_argument("--prior", default="", help="work dirs (comma-separated) of earlier tunes whose records "
                        "train every strategy's cost model before the first trial (prior.py); the tuned "
                        "workload's own records are left out")
    parser.add_argument("--retrain-prior", action="store_true", help="with --prior: the prior-trained model "
                        "retrains at every batch, not only once its data has grown by a fifth (XGBModel's "
                        "adaptive_training off)")
    parser.add_argument("--retime", type=int, default=0, metavar="ROUNDS", help="keep every run's fastest "
                        "schedules and, once all strategies of a workload and seed have run, time them together "
                        "in ROUNDS rounds (retime.py); live runs only")
    parser.add_argument("--runner-repeat", type=int, default=1, help="timings per candidate in a live tune "
                        "(LocalRunner's repeat; MetaSchedule ranks a schedule by their mean); default 1, TVM's")
    parser.add_argument("--keep-top", type=int, default=3, help="with --retime: schedules kept per run and "
                        "checkpoint (default 3)")
    parser.add_argument("--simulate", default="", help="work dirs (comma-separated) holding measured records of "
                        "the workloads: run times are answered by a model of them instead of built and timed "
                        "(simulate.py)")
    args = parser.parse_args(argv)
    workloads, strategies = args.workloads.split(","), args.strategies.split(",")
    unknown = [w for w in workloads if w not in WORKLOADS and not (w.startswith("matmul_") and w[7:].isdigit())] + [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown workload or strategy: {', '.join(unknown)}")
    seeds = parse_seeds(parser, args.seeds)
    if args.budget < 1 or args.per_iter < 1:
        parser.error("--budget and --per-iter must be positive")
    if args.retime < 0 or args.keep_top < 1 or args.runner_repeat < 1:
        parser.error("--retime must be 0 or more, --keep-top and --runner-repeat positive")
    if args.retime and args.simulate:
        parser.error("--retime times real schedules; it cannot be used with --simulate")
    cpu = host_cpu()
    try:
        runs = load_runs(args.out, cpu)
    except ValueError as err:
        parser.error(str(err))
    prior, simulate = ([d for d in value.split(",") if d] for value in (args.prior, args.simulate))
    from .prior import has_database

    for option, dirs in (("--prior", prior), ("--simulate", simulate)):
        missing = [d for d in dirs if not has_database(d)]
        if missing:
            parser.error(f"{option}: no MetaSchedule JSON database in {', '.join(missing)}")
    if args.retrain_prior and not prior:
        parser.error("--retrain-prior needs --prior")
    # A file holds runs of one kind only. Per setting: the run's key, its value in runs written before the key
    # existed, this invocation's value, and what the refusal names.
    for key, default, value, what in (
            ("prior", [], prior, "runs with another --prior; runs with and without prior knowledge are kept in "
                                 "separate files"),
            ("prior_retrained", False, args.retrain_prior, "runs whose prior-trained model retrained otherwise"),
            ("runner_repeat", 1, args.runner_repeat, "runs timed with another --runner-repeat"),
            ("simulated", [], simulate, "runs with another --simulate; simulated and live runs (or runs simulated "
                                        "from other records) are kept in separate files")):
        if any(r.get(key, default) != value for r in runs):
            parser.error(f"{args.out} holds {what}; use another --out")
    builders = []  # live runs share one builder: its workers' slow start is paid once, not per run
    try:
        for seed in seeds:  # seed-major: an interrupted benchmark has every workload for its first seeds
            for name in workloads:
                _run_workload(args, runs, cpu, name, seed, strategies, prior, simulate, builders)
    except ValueError as err:  # a kept schedule that no longer replays or builds; finished runs are saved
        print(f"bench: {err}", file=sys.stderr)
        return 2
    finally:
        for builder in builders:
            builder.shutdown()
    print(json.dumps({"summary": summarise(runs, challenger=args.challenger),
                      "targets": targets(runs, challenger=args.challenger, budget=args.budget)}, indent=1))
    return 0


def _run_workload(args, runs, cpu, name, seed, strategies, prior, simulate, builders):
    """The strategies' runs of one workload and seed not yet in ``runs``, then (``--retime``) their
    re-timing; the file is rewritten after each."""
    def builder():
        if simulate:
            return None
        if not builders:
            from .builder import local_builder

            builders.append(local_builder())
        return builders[0]

    for strategy in strategies:
        if any(r["workload"] == name and r["strategy"] == strategy and r["seed"] == seed
               and r["budget"] == args.budget for r in runs):
            continue
        print(f"bench: {name} {strategy} seed {seed}", file=sys.stderr, flush=True)
        runs.append(run_one(name, strategy, seed, args.budget, args.per_iter, prior, simulate,
                            keep_top=args.keep_top if args.retime else 0, builder=builder(),
                            runner_repeat=args.runner_repeat, retrain_prior=args.retrain_prior))
        _save(args, runs, cpu)
    group = [r for r in runs if r["workload"] == name and r["seed"] == seed and r["budget"] == args.budget
             and r.get("kept")]
    if args.retime and any(not r.get("retimed") for r in group):
        from .retime import retime

        print(f"bench: re-timing {len(group)} runs of {name} seed {seed}", file=sys.stderr, flush=True)
        # The tunes' builder if they started one; else retime starts its own once the kept traces replay.
        shared = builders[0] if builders else None
        for run, retimed in zip(group, retime(workload(name), group, args.retime, seed=seed, builder=shared)):
            run["retimed"] = retimed
        _save(args, runs, cpu)


def write_results(path, cpu, runs, **verdicts):
    """Rewrites a results file whole (through a temporary file, so an interrupted write loses nothing)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"machine": os.uname().machine, "cpu": cpu, "runs": runs, **verdicts}, f, indent=1)
    os.replace(tmp, path)


def parse_seeds(parser, text):
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        parser.error(f"--seeds must be integers separated by commas, not {text!r}")


def _save(args, runs, cpu):
    write_results(args.out, cpu, runs, summary=summarise(runs, challenger=args.challenger),
                  targets=targets(runs, challenger=args.challenger, budget=args.budget))
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    sys.exit(main())
