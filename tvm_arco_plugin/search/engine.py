"""ARCO's search loop without TVM: propose configs to measure, learn from what was measured.

The engine sees a config space only through a :class:`KnobLayout` and a validity mask, and the cost
model only through ``surrogate(indexes) -> predicted scores``; the AutoTVM glue (``tuner.py``)
supplies both. One call of :meth:`ARCOSearch.propose` does:

1. before the cost model has learnt from a successful measurement: a diverse initial design
   (a Latin hypercube over the knobs, restricted to valid, unmeasured configs);
2. otherwise, when enough new measurements arrived since the last round, a new round of candidates,
   with a fixed budget of cost-model evaluations (``candidates_per_round``):
   - the best unmeasured candidates of earlier rounds (the elite) are scored again;
   - the rest of the budget goes to the agents' walks (``marl.MultiAgentExplorer``): long walks from
     the best measured configs and the elite, short ones from random configs; every config they reach
     is scored, and with a hardware agent, its own proposals (``marl.HardwareLeader``) join them;
   - on a space no larger than the budget, every unmeasured config is scored instead: nothing is
     left to search for, and walks could only find fewer;
3. Confidence Sampling over the round's unmeasured candidates picks the batch, after the measurements
   a round owes to the hardware agent, to the global walks and to knob values never seen working
   (the last two only once the best measured config stopped improving); each slot is, with a
   probability that defaults to 0, a uniformly random unmeasured config instead.

With ``optimism`` > 0 and a ``spread`` (how unsure the cost model is, ``uncertainty.py``), every score above
is expected + optimism x spread; off by default (docs/design.md says why).

Two ablations run the same loop with one mechanism removed (``SearchSettings``):
``candidate_source="random"`` spends the walks' budget on uniformly random valid configs (no agents),
``learning=False`` lets the agents walk with their initial policy (no learning).

Nothing already measured is ever proposed again, and a proposal is never empty while an unmeasured
valid config exists. Every proposed config keeps the tag of where it came from (``SOURCES``), so a
run can report what share of its measurements only the agents' walks reached.
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .confidence import confidence_sample
from .knobs import KnobLayout
from .knobs import HARDWARE
from .marl import HardwareLeader, MultiAgentExplorer, PPOSettings

# Where a proposed config came from: the initial design, a walk (reached by an agents' move, or proposed
# by the hardware agent), a walk's start (a random or elite config the walk began at), the random
# candidates of the no-agents ablation, the whole space (when it fits the budget), or the exploration share.
SOURCES = ("init", "walk", "start", "random", "exhaustive", "explore")
GLOBAL_GROUP = 1000  # candidate group of the walks from random configs (groups 1.. are the hardware agent's)


@dataclass
class SearchSettings:
    init_trials: int = 8
    explore_every: int = 8
    # Cost-model evaluations per round, the same for ARCO and its ablations: what they may score to
    # choose a batch. (XGBTuner's simulated annealing scores up to 128 x 500 per round.)
    candidates_per_round: int = 2048
    # Best unmeasured candidates carried to the next round (scored again, inside the budget).
    elite: int = 128
    candidate_source: str = "agents"  # or "random": the arco_noagents ablation
    # With a hardware agent: hardware configs it proposes each round from its own policy, each measured
    # with the best measured config's schedule (HardwareLeader in marl.py).
    leader_proposals: int = 2
    # Share of the walks' budget for walks from random configs, and their measurements per round; with
    # global_horizon 0 that share is spent on random configs themselves (no walk).
    global_share: float = 0.5
    global_slots: int = 2
    global_horizon: int = 4
    # True: the global half's finds compete with the local walks' for every slot of a batch (one candidate
    # group) instead of waiting for global_slots once stalled, or for the next round's elite.
    global_competes: bool = False
    # The local walks' budget is split into this many generations: the first starts from the best measured
    # configs and the elite, each next one from the best-scored configs the round has reached so far, with
    # the agents' update in between. Default 1: more found slower schedules on MetaSchedule (docs/design.md).
    generations: int = 1
    # Measurements per round for a knob value no measured config has worked with yet (the candidate most
    # likely to work that has one), until that value worked or coverage_attempts picks with it failed.
    coverage_slots: int = 1
    coverage_attempts: int = 20
    # The global and coverage slots are used only once the best measured config has not improved for
    # this many rounds: while the model's picks keep improving, exploiting them is cheapest.
    stall_rounds: int = 3
    learning: bool = True  # False: the arco_frozen ablation
    # The hardware agent's own policy (HardwareLeader) learns if this is True; None: as ``learning`` says.
    # So that the hardware agent's learning can be measured apart from the software agents'.
    hardware_learning: Optional[bool] = None
    exploration_share: float = 0.0
    # The surrogate the AutoTVM glue hands the engine: expected throughput x chance to work, each from its
    # own fit of the cost model, once some measurements failed (see tuner.py).
    separate_failures: bool = True
    # Sharp: on replayed spaces, sampling far from the model's best wasted trials (docs/design.md).
    cs_temperature: float = 0.1
    cs_threshold: float = 0.3
    # Weight of the cost model's uncertainty (``propose``'s ``spread``) in every score the search uses:
    # expected + optimism * spread, an upper confidence bound. 0: the model's expectation alone.
    optimism: float = 0.0
    ppo: PPOSettings = field(default_factory=PPOSettings)

    def __post_init__(self):
        if self.candidate_source not in ("agents", "random"):
            raise ValueError(f"candidate_source must be 'agents' or 'random', not {self.candidate_source!r}")
        if self.generations < 1:
            raise ValueError(f"generations must be at least 1, not {self.generations}")
        if self.candidates_per_round <= self.elite:
            raise ValueError("candidates_per_round must exceed elite")


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
    """``knob_prior``: per knob, the probability of each of its values in a random config (None: uniform).
    Random configs and the initial design are drawn from it; the walks and the cost model ignore it."""

    def __init__(self, layout: KnobLayout, validity: ValidityMask, seed=0, settings=None, knob_prior=None):
        self.layout = layout
        self.validity = validity
        self.settings = settings or SearchSettings()
        self.rng = np.random.default_rng(seed)
        self.knob_cdf = None  # None: uniform, drawn as without a prior (the same draws for the same seed)
        if knob_prior is not None:
            if [len(p) for p in knob_prior] != layout.dims.tolist():
                raise ValueError("knob_prior must give one probability per value of every knob")
            probabilities = [np.asarray(p, dtype=np.float64) / np.sum(p) for p in knob_prior]
            if not all(np.allclose(p, 1.0 / len(p)) for p in probabilities):
                self.knob_cdf = [np.cumsum(p) for p in probabilities]
        use_agents = self.settings.candidate_source == "agents" and layout.agents
        self.explorer = (MultiAgentExplorer(layout, seed=seed, settings=self.settings.ppo,
                                            learning=self.settings.learning) if use_agents else None)
        self.leader = None
        if self.explorer is not None and HARDWARE in layout.agents and len(layout.agents) > 1:
            hardware_learning = self.settings.hardware_learning
            self.leader = HardwareLeader(layout.dims[layout.columns[HARDWARE]], seed=seed,
                                         learning=self.settings.learning if hardware_learning is None
                                         else hardware_learning)
        self.leader_pending = {}  # config index -> the hardware choice it was proposed for
        self.measured = {}  # index -> throughput (0 for failures)
        self.source = {}  # index -> where it came from (SOURCES), for every config proposed or scored
        self.measured_source = {}  # index -> source, for the configs this search proposed and saw measured
        self.candidates = np.zeros(0, dtype=np.int64)  # this round's unmeasured candidates ...
        self.candidate_scores = np.zeros(0)  # ... their scores ...
        # ... and who found them: 0 the elite and local walks, 1..leader_proposals the hardware agent's
        # proposals, GLOBAL_GROUP the walks from random configs
        self.candidate_group = np.zeros(0, dtype=np.int64)
        self.quota = {}  # group -> measurements it is still owed this round
        self.leader_choice = {}  # group -> the hardware agent's choice behind it
        self.elite = []
        # (configs measured when the round began, the agents' policy entropy / a uniform policy's)
        self.entropy_per_round = []
        self.scored_per_round = []  # cost-model evaluations of each round
        self._since_round = None  # None: no round yet
        self._best_at_round = 0.0
        self.stalled_rounds = 0  # rounds since the best measured config last improved
        self.value_counts = [np.zeros(d) for d in layout.dims]  # per knob: successful configs with each value
        self.coverage_tries = [np.zeros(d) for d in layout.dims]  # per knob: coverage picks with each value
        self.coverage_owed = 0

    # ---- bookkeeping --------------------------------------------------------------------------
    def observe(self, indexes, throughputs):
        best = max([v for v in self.measured.values()] + [float(v) for v in throughputs] + [1e-12])
        for index, value in zip(indexes, throughputs):
            index = int(index)
            if index in self.leader_pending:  # the hardware agent's real reward: throughput relative to the best
                self.leader.learn(self.leader_pending.pop(index), float(value) / best)
            if value > 0 and self.measured.get(index, 0.0) <= 0:
                for knob, position in enumerate(self.layout.to_knobs([index])[0]):
                    self.value_counts[knob][position] += 1
            self.measured[index] = float(value)
            if index in self.source:
                self.measured_source[index] = self.source[index]
        if self.explorer is not None:
            self.explorer.remember_outcomes(indexes, [float(value) / best for value in throughputs])
        if self._since_round is not None:
            self._since_round += len(indexes)

    @property
    def n_unmeasured(self):
        return self.validity.n_valid - len(self.measured)

    def best_measured(self, k):
        ranked = sorted(self.measured.items(), key=lambda kv: (-kv[1], kv[0]))
        return [index for index, value in ranked[:k] if value > 0]

    def share_from(self, *sources):
        """Share of the configs this search proposed and saw measured that came from ``sources``."""
        if not self.measured_source:
            return 0.0
        return sum(s in sources for s in self.measured_source.values()) / len(self.measured_source)

    def _tag(self, indexes, source):
        for index in indexes:
            self.source.setdefault(int(index), source)

    # ---- sampling the space -------------------------------------------------------------------
    def random_unmeasured(self, n, exclude=()):
        """Up to ``n`` distinct valid, unmeasured indexes (not in ``exclude``), at random: from the knob
        prior, or uniformly (without a prior, or once the prior's draws are mostly taken)."""
        taken = set(self.measured) | set(exclude)
        n = min(n, self.validity.n_valid - len(taken))
        if n <= 0:
            return []
        found = []
        for attempt in range(8):  # rejection sampling, cheap while most of the space is unmeasured
            if self.knob_cdf is None or attempt >= 4:
                draws = self.rng.integers(0, self.layout.range_length, size=4 * n + 16)
            else:
                draws = self.layout.to_index(self._knobs_at(self.rng.random((4 * n + 16, len(self.knob_cdf)))))
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

    def _knobs_at(self, quantiles):
        """Knob values at ``quantiles`` (shape [n, n_knobs], in [0, 1)) of the knob prior."""
        columns = [np.searchsorted(cdf, quantiles[:, k], side="right") for k, cdf in enumerate(self.knob_cdf)]
        return np.minimum(np.stack(columns, axis=1), self.layout.dims - 1) if columns else quantiles.astype(np.int64)

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
        quantiles = (strata + self.rng.random(strata.shape)) / n
        knobs = np.floor(quantiles * dims).astype(np.int64) if self.knob_cdf is None else self._knobs_at(quantiles)
        picks, taken = [], set(self.measured)
        for index in self.layout.to_index(knobs).tolist():
            if index not in taken and self.validity(np.array([index]))[0]:
                taken.add(index)
                picks.append(index)
        if len(picks) < n:  # invalid or already measured points of the design are replaced at random
            picks += [i for i in self.random_unmeasured(2 * n) if i not in taken][: n - len(picks)]
        return picks

    # ---- the proposal -------------------------------------------------------------------------
    def propose(self, n, surrogate=None, spread=None):
        """Indexes of up to ``n`` unmeasured configs to measure next (at least one if any remain).

        ``surrogate(indexes)``: the cost model's expected scores; ``spread(indexes)``: how unsure it is about
        them (``uncertainty.BootstrapSpread``), used only with ``settings.optimism`` > 0."""
        n = min(n, self.n_unmeasured)
        if n <= 0:
            return []
        if surrogate is not None and spread is not None and self.settings.optimism > 0:
            surrogate = self._optimistic(surrogate, spread)
        if surrogate is None or len(self.measured) < self.settings.init_trials:
            picks = self.diverse_unmeasured(n)
            self._tag(picks, "init")
            return picks
        if self._round_due(n):
            self._new_round(surrogate)
        else:  # between rounds: the round's remaining candidates, scored by the refitted model
            keep = np.array([int(i) not in self.measured for i in self.candidates], dtype=bool)
            self.candidates, self.candidate_group = self.candidates[keep], self.candidate_group[keep]
            self.candidate_scores = np.asarray(surrogate(self.candidates), dtype=np.float64)
        batch = []
        # The groups the round owes measurements to first (hardware proposals, global walks); the rest from
        # group 0, then from every candidate.
        for group in sorted(g for g, owed in self.quota.items() if owed > 0):
            take = min(self.quota[group], n - len(batch))
            picked = self._confidence_pick(self.candidate_group == group, take, exclude=batch)
            self.quota[group] -= len(picked)
            for index in picked:
                if group in self.leader_choice:
                    self.leader_pending[index] = self.leader_choice[group]
            batch += picked
        while self.coverage_owed > 0 and len(batch) < n:
            self.coverage_owed -= 1
            batch += self._coverage_pick(exclude=batch)
        if len(batch) < n:
            batch += self._confidence_pick(self.candidate_group == 0, n - len(batch), exclude=batch)
        if len(batch) < n:
            batch += self._confidence_pick(np.ones(len(self.candidates), dtype=bool), n - len(batch), exclude=batch)
        for slot in range(len(batch)):
            if self.rng.random() < self.settings.exploration_share:
                batch[slot] = -1
        n_random = batch.count(-1)
        if n_random:
            replacements = self.random_unmeasured(n_random, exclude=batch)
            self._tag(replacements, "explore")
            batch = [b for b in batch if b != -1] + replacements
        self._keep_elite(batch)
        return batch

    def _optimistic(self, surrogate, spread):
        def score(indexes):
            return (np.asarray(surrogate(indexes), dtype=np.float64)
                    + self.settings.optimism * np.asarray(spread(indexes), dtype=np.float64))
        return score

    def _coverage_pick(self, exclude=()):
        """The best-scored candidate with a knob value that has not worked in any measured config (and has
        not yet had ``coverage_attempts`` tries), or nothing."""
        knobs = self.layout.to_knobs(self.candidates)
        eligible = np.zeros(len(self.candidates), dtype=bool)
        for k, (worked, tries) in enumerate(zip(self.value_counts, self.coverage_tries)):
            open_values = (worked == 0) & (tries < self.settings.coverage_attempts)
            eligible |= open_values[knobs[:, k]]
        eligible &= ~np.isin(self.candidates, list(exclude))
        if not eligible.any():
            return []
        best = int(np.flatnonzero(eligible)[np.argmax(self.candidate_scores[eligible])])
        for k, (worked, tries) in enumerate(zip(self.value_counts, self.coverage_tries)):
            if worked[knobs[best, k]] == 0:
                tries[knobs[best, k]] += 1
        return [int(self.candidates[best])]

    def _confidence_pick(self, among, n, exclude=()):
        """Confidence Sampling over the candidates where ``among`` holds (not in ``exclude``)."""
        among = among & ~np.isin(self.candidates, list(exclude))
        pool, pool_scores = self.candidates[among], self.candidate_scores[among]
        if n <= 0 or not len(pool):
            return []
        picks = confidence_sample(pool_scores, n, self.rng, self.settings.cs_temperature, self.settings.cs_threshold)
        return [int(pool[i]) for i in picks]

    def _round_due(self, n):
        unmeasured = sum(int(i) not in self.measured for i in self.candidates)
        return self._since_round is None or self._since_round >= self.settings.explore_every or unmeasured < n

    def _keep_elite(self, batch):
        taken = set(batch) | set(self.measured)
        order = np.argsort(-self.candidate_scores, kind="stable")
        self.elite = [int(self.candidates[i]) for i in order if int(self.candidates[i]) not in taken]
        self.elite = self.elite[: self.settings.elite]

    def _new_round(self, surrogate):
        s = self.settings
        budget = s.candidates_per_round
        best = max(self.measured.values(), default=0.0)
        self.stalled_rounds = 0 if best > self._best_at_round else self.stalled_rounds + 1
        self._best_at_round = max(best, self._best_at_round)
        exploring = self.stalled_rounds >= s.stall_rounds
        self.quota, self.leader_choice = {}, {}
        self.coverage_owed = s.coverage_slots if exploring else 0
        if self.n_unmeasured <= budget:
            fresh = np.array([i for i in self._all_valid() if i not in self.measured], dtype=np.int64)
            self._tag(fresh.tolist(), "exhaustive")
            candidates, scores = fresh, np.asarray(surrogate(fresh), dtype=np.float64)
            groups = np.zeros(len(fresh), dtype=np.int64)
        else:
            elite = np.array([i for i in self.elite if i not in self.measured], dtype=np.int64)
            elite_scores = np.asarray(surrogate(elite), dtype=np.float64) if len(elite) else np.zeros(0)
            if self.explorer is not None:
                found, found_scores, found_groups = self._walk(surrogate, elite, elite_scores, budget - len(elite))
            else:
                found, found_scores = self._random_candidates(surrogate, budget - len(elite), exclude=elite.tolist())
                found_groups = np.zeros(len(found), dtype=np.int64)
            candidates = np.concatenate([elite, found])
            scores = np.concatenate([elite_scores, found_scores])
            groups = np.concatenate([np.zeros(len(elite), dtype=np.int64), found_groups])
            self.scored_per_round.append(len(candidates))
        # Unmeasured, each config once (its first group), sorted: the same candidates in any order give
        # the same proposals.
        _, first = np.unique(candidates, return_index=True)
        first = first[[int(candidates[i]) not in self.measured for i in first]]
        self.candidates, self.candidate_scores, self.candidate_group = candidates[first], scores[first], groups[first]
        self._since_round = 0

    def _random_candidates(self, surrogate, n, exclude=()):
        """Up to ``n`` random valid, unmeasured configs (source "random") and their scores."""
        indexes = np.array(self.random_unmeasured(n, exclude=exclude), dtype=np.int64)
        self._tag(indexes.tolist(), "random")
        return indexes, (np.asarray(surrogate(indexes), dtype=np.float64) if len(indexes) else np.zeros(0))

    def _walk(self, surrogate, elite, elite_scores, budget):
        """One exploration round of the agents -> (unmeasured configs they scored, scores, groups).

        Joint walks (every agent acts) start from the best measured configs, the elite and random
        configs: group 0; short walks from random configs: ``GLOBAL_GROUP``, owed ``global_slots``
        measurements per round once the search stalls. With a hardware agent, it also proposes
        ``leader_proposals`` hardware configs from its policy, each with the best measured config's
        schedule: group k > 0, one measurement each, whose result is that agent's reward."""
        s, layout, measured = self.settings, self.layout, self.measured
        walkers = s.ppo.walkers
        ranked_elite = elite[np.argsort(-elite_scores, kind="stable")].tolist()

        # Every config scored in this round (with generations: later walks do not score them again).
        scored = dict(zip(elite.tolist(), elite_scores.tolist())) if s.generations > 1 else None

        def walk(starts, walk_budget, horizon=None, width=walkers):
            starts = (starts * (width // max(len(starts), 1) + 1))[:width]
            self._tag(starts, "start")
            found = self.explorer.explore(
                layout.to_knobs(starts),
                score_fn=lambda knobs: surrogate(layout.to_index(knobs)),
                valid_fn=lambda knobs: self.validity(layout.to_index(knobs)),
                is_new=lambda indexes: np.array([int(i) not in measured for i in indexes], dtype=bool),
                budget=walk_budget, horizon=horizon, known=scored)
            indexes = layout.to_index(found.knobs)
            self._tag(indexes[found.from_start].tolist(), "start")
            self._tag(indexes[~found.from_start].tolist(), "walk")
            if scored is not None:
                scored.update(zip(indexes.tolist(), found.scores.tolist()))
            return indexes, np.asarray(found.scores, dtype=np.float64), found.entropy_ratio

        walk_budget = budget - s.leader_proposals * (self.leader is not None)
        # Local walks from the best measured configs and the elite; global walks from random configs,
        # whose finds get global_slots of every round so that the search cannot stay in one region.
        local = self.best_measured(walkers // 4) + ranked_elite[: walkers // 4]
        if not local:  # nothing has worked yet and no elite: the first round after failed initial designs
            local = self.random_unmeasured(walkers)
        found, entropies = [], []
        local_share = (1 - s.global_share) / s.generations
        # The local walks' later generations come last: they start from the best of everything scored before.
        walks = [(0, local_share), (GLOBAL_GROUP, s.global_share)] + [(0, local_share)] * (s.generations - 1)
        for generation, (group, share) in enumerate(walks):
            if share <= 0:
                continue
            if group == GLOBAL_GROUP and s.global_horizon == 0:
                # No walk: the share's whole budget on independent random configs, as the no-agents ablation.
                indexes, scores = self._random_candidates(surrogate, int(walk_budget * share))
                if scored is not None:
                    scored.update(zip(indexes.tolist(), scores.tolist()))
                found.append((indexes, scores, np.full(len(indexes), group, dtype=np.int64)))
                continue
            if group == GLOBAL_GROUP:
                # Short walks from many random configs: climbing a few steps improves a random start, but
                # long walks would all end where the cost model already points.
                width = max(walkers, int(walk_budget * share) // s.global_horizon)
                indexes, scores, entropy = walk(self.random_unmeasured(width), int(walk_budget * share),
                                                horizon=s.global_horizon, width=width)
            else:
                if generation > 0:
                    best_scored = sorted(scored, key=lambda i: (-scored[i], i))[: walkers // 4]
                    local = self.best_measured(walkers // 4) + best_scored
                indexes, scores, entropy = walk(local, int(walk_budget * share))
            found.append((indexes, scores, np.full(len(indexes), group, dtype=np.int64)))
            entropies.append(entropy)
        if s.global_share > 0 and not s.global_competes and self.stalled_rounds >= s.stall_rounds:
            self.quota[GLOBAL_GROUP] = s.global_slots
        if self.leader is not None and self.best_measured(1):
            # The best measured config moved to the hardware the agent proposes (its schedule held):
            # a schedule that is good on one accelerator tends to be good on the next.
            incumbent = layout.to_knobs(self.best_measured(1))[0]
            hw_columns = layout.columns[HARDWARE]
            proposals = set()
            for k in range(1, s.leader_proposals + 1):
                for choice in self.leader.sample(16):
                    knobs = incumbent.copy()
                    knobs[hw_columns] = choice
                    index = int(layout.to_index(knobs[None])[0])
                    if index not in measured and index not in proposals and self.validity(np.array([index]))[0]:
                        break
                else:
                    continue
                proposals.add(index)
                self._tag([index], "walk")
                found.append((np.array([index]), np.asarray(surrogate([index]), dtype=np.float64),
                              np.array([k], dtype=np.int64)))
                self.quota[k] = 1
                self.leader_choice[k] = choice
        self.entropy_per_round.append((len(measured), float(np.mean(entropies)) if entropies else 1.0))
        indexes, scores, groups = (np.concatenate(parts) for parts in zip(*found))
        if s.global_competes:
            groups[groups == GLOBAL_GROUP] = 0
        elite_set = set(elite.tolist())
        fresh = np.array([int(i) not in elite_set for i in indexes], dtype=bool)
        return indexes[fresh], scores[fresh], groups[fresh]
