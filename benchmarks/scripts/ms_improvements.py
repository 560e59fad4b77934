"""Where a simulated ARCO run's improvements come from: per batch, the design spaces and sources of its
configs; per improvement of the best, the trial, the GFLOP/s, the design space and the source.

    .venv-ms/bin/python benchmarks/scripts/ms_improvements.py resnet18_conv2d_28 0          # workload, seed
    .venv-ms/bin/python benchmarks/scripts/ms_improvements.py resnet18_conv2d_56 0 arco_lategenerations

Run times are simulated from benchmarks/priors_znver3/<workload> (tvm_arco_plugin/metaschedule/simulate.py),
256 trials, 64 per batch, as in the benchmark's simulated runs (the same curves, float for float). A
source is where the engine found the config (``search.engine.SOURCES``): ``init`` the initial design,
``walk`` reached by an agents' move, ``random`` a random config of the round, ``start`` a walk's start.
"""
import collections
import os
import sys
import tempfile

from tvm_arco_plugin.metaschedule._tvm import require_metaschedule
from tvm_arco_plugin.metaschedule.bench import arco_variant
from tvm_arco_plugin.metaschedule.simulate import simulated_measurement
from tvm_arco_plugin.metaschedule.strategy import ARCOSearchStrategy
from tvm_arco_plugin.metaschedule.workloads import default_target, workload

tvm, ms = require_metaschedule()
PRIORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "priors_znver3")
name, seed = sys.argv[1], int(sys.argv[2])
strategy = arco_variant(sys.argv[3] if len(sys.argv) > 3 else "arco", seed)

# tune_tir tunes with a clone of the strategy: keep the clone that picks, to read its engines afterwards.
tuned = []
pick = ARCOSearchStrategy._cls._pick


def recording_pick(self, n):
    batch = pick(self, n)
    tuned[:] = [self]
    print(f"batch at trial {self.trials}: spaces {dict(sorted(collections.Counter(s for s, _, _ in batch).items()))}, "
          f"sources {dict(collections.Counter(self.spaces[s].engine.source.get(i, '?') for s, i, _ in batch))}")
    return batch


ARCOSearchStrategy._cls._pick = recording_pick
mod = workload(name)
builder, runner = simulated_measurement([os.path.join(PRIORS, name)], mod, default_target())
with tempfile.TemporaryDirectory() as work_dir:
    ms.tune_tir(mod, default_target(), work_dir, max_trials_global=256, num_trials_per_iter=64, strategy=strategy,
                builder=builder, runner=runner, seed=seed)
flops = float(tvm.s_tir.analysis.estimate_tir_flops(mod))
spaces = tuned[0].spaces
best, measured = 0.0, collections.Counter()
for trial, (_, space_id, index, seconds) in enumerate(strategy.stats.measured, start=1):
    source = spaces[space_id].engine.source.get(index, "?")
    measured[source] += 1
    gflops = flops / seconds / 1e9 if seconds else 0.0
    if gflops > best:
        best = gflops
        print(f"improvement at trial {trial}: {gflops:.2f} GFLOP/s, design space {space_id}, source {source}")
print(f"best {best:.2f} GFLOP/s; measured configs by source: {dict(measured)}")
