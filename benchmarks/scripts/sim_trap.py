"""Why a simulated run stalls: a search failure or a model failure?

    .venv/bin/python benchmarks/scripts/sim_trap.py benchmarks/logs/live_dense_pack_512_rocketlake/*.log \
        --workload dense_pack_512 --tuner arco --seed 9 --out trap_arco_s9.json

Runs one tuner of the ARCO engine on ``live_simulated.py``'s landscape and, at every batch once its
cost model is ready, scores the landscape's good region (every config within ``--level`` of the
optimum) with the tuner's own surrogate. If the surrogate rates some good config above the best
candidate of the round, the candidates missed a config the model would have picked (search failure);
if it rates every good config lower, no search of this model would have measured one (model failure).
Also counts the good configs among the round's candidates.
"""
import argparse
import json
import sys

import numpy as np
from tvm import autotvm

import live_simulated as sim
from tvm_arco_plugin import bench
from tvm_arco_plugin.replay import ReplayBuilder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--workload", required=True, choices=sorted(bench.LARGE_CPU_WORKLOADS))
    parser.add_argument("--tuner", default="arco", choices=("arco", "arco_noagents", "arco_frozen"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    task, throughput_of, _ = sim.landscape_of(args.logs, args.workload)
    good = np.flatnonzero(throughput_of >= args.level * throughput_of.max())
    bench.seed_all(args.seed)
    tuner = bench.TUNERS[args.tuner](task, args.seed)
    batches = []
    propose = tuner.next_batch

    def next_batch(n):
        configs = propose(n)
        search = tuner.search
        if tuner._model_ready and len(search.candidates):
            good_scores = np.asarray(tuner._predict(good))
            batches.append({"measured": len(search.measured),
                            "best_candidate_score": round(float(np.max(search.candidate_scores)), 4),
                            "best_good_score": round(float(np.max(good_scores)), 4),
                            "good_among_candidates": int(np.isin(good, search.candidates).sum()),
                            "best_measured_share": round(max(search.measured.values()) / throughput_of.max(), 4)})
        return configs

    tuner.next_batch = next_batch
    option = {"builder": ReplayBuilder(n_parallel=8), "runner": sim.SimulatedRunner(throughput_of, task.flop)}
    tuner.tune(n_trial=args.budget, measure_option=autotvm.measure_option(**option))
    search_failures = sum(b["best_good_score"] > b["best_candidate_score"] for b in batches)
    print(f"{args.tuner} seed {args.seed}: {len(good)} configs within {args.level:.0%} of the optimum; the model rated "
          f"one of them above the round's best candidate in {search_failures} of {len(batches)} batches; good "
          f"configs among a round's candidates: median {np.median([b['good_among_candidates'] for b in batches]):g}; "
          f"best measured {max(tuner.search.measured.values()) / throughput_of.max():.3f} of the optimum")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({"tuner": args.tuner, "seed": args.seed, "level": args.level, "good_configs": len(good),
                       "search_failures": search_failures, "batches": batches}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
