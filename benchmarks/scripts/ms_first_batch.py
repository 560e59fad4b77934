"""ARCO's first MetaSchedule batch under a prior-trained cost model: how good are its 16 candidates?

    .venv-ms/bin/python benchmarks/scripts/ms_first_batch.py agents   # or: random (arco_noagents)
    .venv-ms/bin/python benchmarks/scripts/ms_first_batch.py agents generations=4 --seeds 0,1,2 --no-random

For conv2d_14 with the prior of benchmarks/priors_znver3 (conv2d_28 and conv2d_56 records), prints, per
seed, the prior model's best and mean score of the strategy's first batch, and the same batch scored by
an "oracle" model trained on 320 measured random conv2d_14 schedules (priors_znver3/resnet18_conv2d_14);
then the best prior score among ~2,100 random configs of the same design spaces, and the oracle's view
of the 16 the prior ranks first among them. No building or running: the strategy is driven by hand.
"""
import os
import sys
import time

import numpy as np

from tvm_arco_plugin.metaschedule import ARCOSearchStrategy
from tvm_arco_plugin.metaschedule._tvm import require_metaschedule
from tvm_arco_plugin.metaschedule.prior import cost_model_from_databases
from tvm_arco_plugin.metaschedule.strategy import default_settings, measure_candidate
from tvm_arco_plugin.metaschedule.workloads import default_target, workload

_, ms = require_metaschedule()
PRIORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "priors_znver3")
args = sys.argv[1:]
source = args[0] if args and "=" not in args[0] and not args[0].startswith("--") else "agents"
extra = {k: int(v) for k, v in (a.split("=") for a in args if "=" in a)}
seeds = [int(x) for x in args[args.index("--seeds") + 1].split(",")] if "--seeds" in args else [0, 1]
mod = workload("resnet18_conv2d_14")
prior = cost_model_from_databases([os.path.join(PRIORS, "resnet18_conv2d_28"), os.path.join(PRIORS, "resnet18_conv2d_56")],
                                  default_target(), exclude=[mod])
oracle = cost_model_from_databases([os.path.join(PRIORS, "resnet18_conv2d_14")], default_target())
context = ms.TuneContext(mod=mod, target=default_target(), space_generator="post-order-apply",
                         search_strategy="replay-trace", task_name="main", rand_state=1, num_threads=2).clone()
for seed in seeds:
    strategy = ARCOSearchStrategy(seed=seed, settings=default_settings(candidate_source=source, **extra))
    strategy._initialize_with_tune_context(context)
    strategy.pre_tuning(64, 64, context.generate_design_space(), None, prior)
    tic = time.time()
    batch = strategy.generate_measure_candidates()
    seconds = time.time() - tic
    p, o = prior.predict(context, batch), oracle.predict(context, batch)
    print(f"seed {seed}, {source} {extra}, first batch of {len(batch)}: prior score max {p.max():.3f} mean {p.mean():.3f}; "
          f"oracle max {o.max():.3f} mean {o.mean():.3f}; {seconds:.1f} s, cost-model evaluations per space "
          f"{[space.engine.scored_per_round for space in strategy.spaces]}")
    if "--no-random" in args:
        strategy.post_tuning()
        continue
    rng = np.random.default_rng(seed)
    schedules = [s for space in strategy.spaces
                 for s in (space.space.schedule(int(i)) for i in rng.integers(0, space.space.layout.range_length, 700))
                 if s is not None]
    candidates = [measure_candidate(s) for s in schedules]
    rp, ro = prior.predict(context, candidates), oracle.predict(context, candidates)
    top = np.argsort(-rp)[:16]
    print(f"  {len(candidates)} random configs: prior score max {rp.max():.3f}; the prior's top 16: "
          f"oracle max {ro[top].max():.3f} mean {ro[top].mean():.3f}")
    strategy.post_tuning()
