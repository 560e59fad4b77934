"""ARCO's search loop without TVM: propose configs to measure, learn from what was measured.

The engine sees a config space only through a :class:`KnobLayout` and a validity mask, and the cost
model only through ``surrogate(indexes) -> predicted scores``; the AutoTVM glue (``tuner.py``)
supplies both. One call of :meth:`ARCOSearch.propose` does:

1. before the cost model has learnt from a successful measurement: a diverse initial design
   (a Latin hypercube over the knobs, restricted to valid, unmeasured configs);
2. otherwise, when enough new measurements arrived since the last round, a MARL exploration round
   (the three agents walk from the best measured configs, the best predicted configs and random
   configs) whose reached configs join the candidate pool; a fresh random sample of the space is
   added too so the pool never collapses onto one neighbourhood;
3. Confidence Sampling over the unmeasured candidates picks the batch; each slot is, with a small
   probability, a uniformly random unmeasured config instead (the exploration share).

Nothing already measured is ever proposed again, and a proposal is never empty while an unmeasured
valid config exists.
"""
from dataclasses import dataclass, field

import numpy as np

from .confidence import confidence_sample
from .knobs import KnobLayout
from .marl import MultiAgentExplorer, PPOSettings


@dataclass
class SearchSettings:
    init_trials: int = 8
    explore_every: int = 8
    # Scored on the cost model next to the agents' finds every round; for spaces of a few thousand
    # configs this is nearly all of them, for huge (co-design) spaces the agents' walks matter most.
    random_pool: int = 4096
    exploration_share: float = 0.0
    # Sharp: on replayed spaces, sampling far from the model's best wasted trials (docs/benchmarks.md).
    cs_temperature: float = 0.1
    cs_threshold: float = 0.3
    ppo: PPOSettings = field(default_factory=PPOSettings)


class ValidityMask:
    """Which indexes of the space are valid; all of them unless the template uses ``multi_filter``."""

    def __init__(self, range_length, valid=None):
        self.range_length = int(range_length)
        self.valid = None if valid is None else np.asarray(valid, dtype=bool)
        self.n_valid = self.range_length if self.valid is None else int(self.valid.sum())

    def __call__(self, indexes):
        indexes = np.asarray(indexes, dtype=np.int64)
        if self.valid is None:
            return np.ones(indexes.shape, dtype=bool)
        return self.valid[indexes]


class ARCOSearch:
    def __init__(self, layout: KnobLayout, validity: ValidityMask, seed=0, settings=None):
        self.layout = layout
        self.validity = validity
        self.settings = settings or SearchSettings()
        self.rng = np.random.default_rng(seed)
        self.explorer = MultiAgentExplorer(layout, seed=seed, settings=self.settings.ppo) if layout.agents else None
        self.measured = {}  # index -> throughput (0 for failures)
        self.pool = set()  # unmeasured candidates reached by the agents
        self._since_explore = None  # None: no exploration round yet

    # ---- bookkeeping --------------------------------------------------------------------------
    def observe(self, indexes, throughputs):
        for index, value in zip(indexes, throughputs):
            self.measured[int(index)] = float(value)
            self.pool.discard(int(index))
        if self._since_explore is not None:
            self._since_explore += len(indexes)

    @property
    def n_unmeasured(self):
        return self.validity.n_valid - len(self.measured)

    def best_measured(self, k):
        ranked = sorted(self.measured.items(), key=lambda kv: (-kv[1], kv[0]))
        return [index for index, value in ranked[:k] if value > 0]

    # ---- sampling the space -------------------------------------------------------------------
    def random_unmeasured(self, n):
        """Up to ``n`` distinct valid, unmeasured indexes, uniformly at random."""
        n = min(n, self.n_unmeasured)
        if n <= 0:
            return []
        found = []
        taken = set(self.measured)
        for _ in range(8):  # rejection sampling, cheap while most of the space is unmeasured
            draws = self.rng.integers(0, self.layout.range_length, size=4 * n + 16)
            for index in draws[self.validity(draws)].tolist():
                if index not in taken:
                    taken.add(index)
                    found.append(index)
                    if len(found) == n:
                        return found
        # Nearly exhausted space: enumerate what is left instead of drawing forever.
        remaining = np.array([i for i in self._all_valid() if i not in taken], dtype=np.int64)
        extra = self.rng.choice(remaining, size=min(n - len(found), len(remaining)), replace=False)
        return found + extra.tolist()

    def _all_valid(self):
        everything = np.arange(self.layout.range_length, dtype=np.int64)
        return everything[self.validity(everything)].tolist()

    def diverse_unmeasured(self, n):
        """Latin-hypercube design in knob space: every knob's range is covered evenly by the ``n`` picks.

        (Max-min distance designs were tried first: they pick the corners of the space, i.e. the
        extreme tilings, which are nearly always the slowest configs.)
        """
        n = min(n, self.n_unmeasured)
        dims = self.layout.dims
        strata = np.stack([self.rng.permutation(n) for _ in dims], axis=1) if len(dims) else np.zeros((n, 0))
        knobs = np.floor((strata + self.rng.random(strata.shape)) / n * dims).astype(np.int64)
        picks, taken = [], set(self.measured)
        for index in self.layout.to_index(knobs).tolist():
            if index not in taken and self.validity(np.array([index]))[0]:
                taken.add(index)
                picks.append(index)
        if len(picks) < n:  # invalid or already measured points of the design are replaced at random
            picks += [i for i in self.random_unmeasured(2 * n) if i not in taken][: n - len(picks)]
        return picks

    # ---- the proposal -------------------------------------------------------------------------
    def propose(self, n, surrogate=None):
        """Indexes of up to ``n`` unmeasured configs to measure next (at least one if any remain)."""
        n = min(n, self.n_unmeasured)
        if n <= 0:
            return []
        if surrogate is None or len(self.measured) < self.settings.init_trials:
            return self.diverse_unmeasured(n)
        if self._exploration_due(n):
            self._explore(surrogate)
        candidates = self._candidates()
        scores = np.asarray(surrogate(candidates), dtype=np.float64)
        picks = confidence_sample(scores, n, self.rng, self.settings.cs_temperature, self.settings.cs_threshold)
        batch = [int(candidates[i]) for i in picks]
        for slot in range(len(batch)):
            if self.rng.random() < self.settings.exploration_share:
                batch[slot] = -1
        n_random = batch.count(-1)
        if n_random:
            taken = set(batch)
            replacements = [i for i in self.random_unmeasured(n_random + len(batch)) if i not in taken][:n_random]
            batch = [b for b in batch if b != -1] + replacements
        return batch

    def _exploration_due(self, n):
        return self.explorer is not None and (self._since_explore is None
                                              or self._since_explore >= self.settings.explore_every
                                              or len(self.pool) < n)

    def _candidates(self):
        """The agents' unmeasured finds plus a fresh random sample of the space, sorted."""
        return np.array(sorted(self.pool | set(self.random_unmeasured(self.settings.random_pool))), dtype=np.int64)

    def _explore(self, surrogate):
        walkers = self.settings.ppo.walkers
        n_best = walkers // 3
        starts = self.best_measured(n_best)
        if self.pool:
            pool = np.array(sorted(self.pool), dtype=np.int64)
            starts += pool[np.argsort(-np.asarray(surrogate(pool)), kind="stable")[:n_best]].tolist()
        starts += self.random_unmeasured(walkers - len(starts))
        starts = (starts * (walkers // max(len(starts), 1) + 1))[:walkers]
        layout = self.layout
        reached, _ = self.explorer.explore(
            layout.to_knobs(starts),
            score_fn=lambda knobs: surrogate(layout.to_index(knobs)),
            valid_fn=lambda knobs: self.validity(layout.to_index(knobs)),
        )
        self.pool.update(int(i) for i in np.unique(layout.to_index(reached)) if int(i) not in self.measured)
        self._since_explore = 0
