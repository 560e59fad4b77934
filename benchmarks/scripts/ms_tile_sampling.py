"""How MetaSchedule's own SamplePerfectTile spreads the innermost factor, against the two knob priors.

    .venv-ms/bin/python benchmarks/scripts/ms_tile_sampling.py [draws]

Draws a 256-long loop's 4-factor tiling (innermost at most 64) ``draws`` times (default 20,000) from one
Schedule, its random state advancing as in a tune, and prints the share of each innermost factor beside
uniform tilings (``TraceSpace.knob_prior()``, the default) and innermost-first
(``knob_prior("innermost_first")``), with the total variation distance to each.
"""
import collections
import sys

import numpy as np

from tvm_arco_plugin.metaschedule.space import innermost_first_probabilities, metaschedule_tile_draws, perfect_tilings


def main(draws=20000):
    counts = collections.Counter(metaschedule_tile_draws(256, 4, 64, draws))
    tilings = perfect_tilings(256, 4, 64)
    measured = np.array([counts[t] for t in tilings]) / draws
    priors = {"uniform": np.full(len(tilings), 1.0 / len(tilings)),
              "innermost_first": innermost_first_probabilities(tilings)}
    innermost = sorted({t[-1] for t in tilings})

    def by_innermost(p):
        return " ".join(f"{sum(p[i] for i, t in enumerate(tilings) if t[-1] == k):6.3f}" for k in innermost)

    print(f"{len(tilings)} tilings; innermost factor:", " ".join(f"{k:6d}" for k in innermost))
    print(f"{'MetaSchedule, ' + str(draws) + ' draws':>28}", by_innermost(measured))
    for name, p in priors.items():
        distance = 0.5 * np.abs(measured - p).sum()
        print(f"{name:>28}", by_innermost(p), f"  total variation distance {distance:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
