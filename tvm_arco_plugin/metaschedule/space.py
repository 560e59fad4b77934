"""A MetaSchedule design space as knobs: each sampling instruction of its trace is one knob.

MetaSchedule's candidates are replays of a design space's trace with other sampling decisions;
ARCO's engine searches a mixed-radix space of knob indexes (``search.knobs.KnobLayout``). A
:class:`TraceSpace` maps between the two:

- ``SamplePerfectTile``: every perfect tiling of the loop's extent into the instruction's ``n``
  factors (innermost factor within its ``max_innermost_factor``), enumerated, ordered;
- ``SampleCategorical``: the index into its candidates (the decision MetaSchedule stores);
- any other sampling instruction (``SampleComputeLocation``, ...): its decisions seen in seeded
  replays where MetaSchedule samples it itself, plus the design space's own.

A knob vector is replayed with ``Trace.apply_to_schedule`` and a decision provider, then checked by
the task's postprocessors; a replay or postprocessor failure makes the config invalid.
"""
import itertools
import re
import threading

import numpy as np

from ..search.knobs import Knob, KnobLayout, MAPPING, SCHEDULING
from ._tvm import require_metaschedule

PERFECT_TILE, CATEGORICAL = "SamplePerfectTile", "SampleCategorical"
# Tilings map loops to the memory hierarchy (the mapping agent); unrolling, compute locations and any
# other decision shape the loop nest (the scheduling agent). There is no hardware agent here.
_AGENT_OF_KIND = {PERFECT_TILE: MAPPING}


_DECISION = re.compile(r", decision=(\[[^\]]*\]|[^,)]*)")
_VARIABLE = re.compile(r"\b[blv]\d+\b")  # a trace's blocks, loops and sampled values as Python names


def is_sampling(inst):
    return inst.kind.name.startswith("Sample")


def structure_of(trace):
    """A trace's instructions as Python lines, without sampling decisions, postprocessing or instructions
    whose results are unused (EvolutionarySearch measures simplified traces). Two design spaces of one task
    can have the same sampling instructions and differ elsewhere (the conv2d and matmul spaces with an
    output cache write differ in the loop it is computed at), so this, not the sampling instructions,
    tells which design space a trace comes from."""
    lines = trace.simplified(remove_postproc=True).as_python(remove_postproc=True)
    return tuple(_DECISION.sub("", line) for line in lines)


def design_space_of(trace, structures, structure=None):
    """The index of the design space (``structures``: each one's ``structure_of``) ``trace`` is a replay
    of, or None. A trace whose postprocessing is not marked (one read back from JSON) keeps its
    postprocessors' instructions after the design space's, so a design space matches as a prefix; the
    longest match wins. ``structure``: the trace's ``structure_of``, when the caller has it."""
    mine = structure_of(trace) if structure is None else structure
    matches = [(len(s), i) for i, s in enumerate(structures) if mine[:len(s)] == s]
    return max(matches)[1] if matches else None


def design_space_labels(structures):
    """A short label per design space (``structures``: each one's ``structure_of``, or a label's lines): its
    lines that not every design space has, even with variables renamed (the variables' numbers shift after
    an extra instruction), "; "-joined; "(none of its own)" if it has none (e.g. the output's cache write
    and the loop it is computed at for one space, nothing for the space without)."""
    def renamed(line):
        return _VARIABLE.sub("_", line)

    common = set.intersection(*({renamed(line) for line in s} for s in structures)) if structures else set()
    return ["; ".join(line.split(" = ")[-1].removeprefix("sch.") for line in s if renamed(line) not in common)
            or "(none of its own)" for s in structures]


def perfect_tilings(extent, n, max_innermost_factor):
    """All ways to write ``extent`` as an ordered product of ``n`` factors (outermost first) whose last
    factor is at most ``max_innermost_factor`` (no limit if it is <= 0), in lexicographic order."""
    divisors = [d for d in range(1, extent + 1) if extent % d == 0]

    def rest(remaining, parts):
        if parts == 1:
            if max_innermost_factor <= 0 or remaining <= max_innermost_factor:
                yield (remaining,)
            return
        for d in divisors:
            if d > remaining:
                break
            if remaining % d == 0:
                for tail in rest(remaining // d, parts - 1):
                    yield (d,) + tail

    return list(rest(extent, n))


def innermost_first_probabilities(tilings):
    """Probabilities over ``tilings`` (perfect_tilings' output) that draw the innermost factor uniformly
    among those present, then the outer factors uniformly among the tilings of the rest.

    MetaSchedule 0.27's ``SamplePerfectTile`` draws uniformly over the tilings within the innermost
    limit (each prime's exponent split uniformly, then rejection), and most tilings have a small
    innermost factor, which leaves little to vectorise: 64 in 4 factors has 28 tilings with innermost 1
    and one with innermost 64. Drawing the innermost factor first gives every one the same weight."""
    with_innermost = {}
    for tiling in tilings:
        with_innermost[tiling[-1]] = with_innermost.get(tiling[-1], 0) + 1
    return np.array([1.0 / (len(with_innermost) * with_innermost[t[-1]]) for t in tilings])


def factor_moves(tilings):
    """The moves of one tiling knob (``tilings``: perfect_tilings' output): move (p, i, j) divides factor
    i by the prime p and multiplies factor j by it, as MetaSchedule's ``MutateTileSize`` moves a factor
    between two levels of a tiling. Returns an int array [len(tilings), n_moves] of the tiling each
    move reaches (the same one where factor i has no p or the innermost factor would exceed its limit)."""
    extent, levels = int(np.prod(tilings[0])), len(tilings[0])
    primes, rest, p = [], extent, 2
    while p * p <= rest:
        if rest % p == 0:
            primes.append(p)
            while rest % p == 0:
                rest //= p
        p += 1
    primes += [rest] if rest > 1 else []
    moves = [(p, i, j) for p in primes for i in range(levels) for j in range(levels) if i != j]
    index = {tiling: k for k, tiling in enumerate(tilings)}
    table = np.empty((len(tilings), len(moves)), dtype=np.int64)
    for k, tiling in enumerate(tilings):
        for m, (p, i, j) in enumerate(moves):
            moved = list(tiling)
            moved[i], moved[j] = moved[i] // p, moved[j] * p
            table[k, m] = index.get(tuple(moved), k) if tiling[i] % p == 0 else k
    return table


def factor_features(tilings):
    """How the agents can see a tiling knob (``tilings``: perfect_tilings' output): each level's factor
    as log(factor) / log(extent), [len(tilings), levels]; a move of factor_moves changes two columns.
    The tiling's index alone (the default observation) orders tilings by their outermost factor."""
    extent = int(np.prod(tilings[0]))
    return np.log(np.array(tilings, dtype=np.float64)) / np.log(max(extent, 2))


def metaschedule_tile_draws(extent, n, max_innermost_factor, draws, seed=12345):
    """``draws`` tilings of an ``extent``-long loop into ``n`` factors by MetaSchedule's own
    ``SamplePerfectTile``, one Schedule's random state advancing as in a tune: what the "uniform"
    tilings of ``TraceSpace.knob_prior`` stand for, checked against it by a test and a script."""
    tvm, _ = require_metaschedule()
    from tvm import te
    from tvm.s_tir.schedule import Schedule

    a = te.placeholder((extent,), name="a")
    b = te.compute((extent,), lambda i: a[i] + 1.0, name="b")
    sch = Schedule(tvm.IRModule({"main": te.create_prim_func([a, b])}), seed=seed)
    loop = sch.get_loops(sch.get_sblock("b"))[0]
    return [tuple(int(sch.get(v)) for v in sch.sample_perfect_tile(loop, n=n, max_innermost_factor=max_innermost_factor))
            for _ in range(draws)]


def _as_key(decision):
    """A hashable, comparable form of a decision (an int, or a list of ints for tilings)."""
    if decision is None:
        return None
    if isinstance(decision, (int, np.integer)):
        return int(decision)
    try:
        return tuple(int(x) for x in decision)
    except TypeError:
        return int(decision)


class TraceSpace:
    """One design space of one task. ``seed`` fixes the replays that discover open-ended domains.
    ``tile_moves``: the agents' actions on a tiling, ``"set"`` (any tiling of the loop) or ``"factor"``
    (factor_moves: a prime factor moved between two levels, relative to the current tiling).
    ``tile_observation``: how the agents see a tiling, ``"index"`` (its index, scaled) or ``"factors"``
    (factor_features: the factor of each level)."""

    def __init__(self, mod, design_space, postprocs, space_id=0, seed=0, discovery_replays=16, tile_moves="set",
                 tile_observation="index"):
        # Checked before the discovery replays, the slow part.
        if tile_moves not in ("set", "factor"):
            raise ValueError(f"tile_moves must be 'set' or 'factor', not {tile_moves!r}")
        if tile_observation not in ("index", "factors"):
            raise ValueError(f"tile_observation must be 'index' or 'factors', not {tile_observation!r}")
        tvm, _ = require_metaschedule()
        from tvm.s_tir.schedule import Schedule

        self._schedule_cls = Schedule
        self._tvm_error = tvm.TVMError if hasattr(tvm, "TVMError") else Exception
        self.mod = mod
        self._owner_thread = threading.get_ident()
        self._thread_copies = threading.local()
        self._save_json, self._load_json = tvm.ir.save_json, tvm.ir.load_json
        self.trace = design_space.trace
        self.structure = structure_of(self.trace)
        self.postprocs = list(postprocs)
        self.space_id = space_id
        self.seed = seed
        self.kinds = [inst.kind.name for inst in self.trace.insts if is_sampling(inst)]
        own = [_as_key(self.trace.decisions.get(inst)) for inst in self.trace.insts if is_sampling(inst)]
        self.domains = self._discover_domains(own, discovery_replays)
        knobs = [Knob(f"s{space_id}.{i}.{kind}", kind, len(domain))
                 for i, (kind, domain) in enumerate(zip(self.kinds, self.domains))]
        agent_knobs = {}
        for knob in knobs:
            agent_knobs.setdefault(_AGENT_OF_KIND.get(knob.kind, SCHEDULING), []).append(knob.name)
        tilings = {position: domain for position, (kind, domain) in enumerate(zip(self.kinds, self.domains))
                   if kind == PERFECT_TILE}
        moves = {} if tile_moves == "set" else {position: factor_moves(d) for position, d in tilings.items()}
        features = {} if tile_observation == "index" else {position: factor_features(d) for position, d in tilings.items()}
        self.layout = KnobLayout(knobs, agent_knobs=agent_knobs, moves=moves, features=features)
        self._position = [{value: j for j, value in enumerate(domain)} for domain in self.domains]

    # ---- domains ------------------------------------------------------------------------------
    def _discover_domains(self, own, discovery_replays):
        """Tilings and categorical choices are enumerated from the replayed loop extents and attributes;
        other decisions are collected from replays in which MetaSchedule samples them itself."""
        exact = [None] * len(self.kinds)
        self._categorical_probs = {}  # position -> the instruction's probabilities

        def record_exact(position, inst, inputs, attrs, sch):
            if inst.kind.name == PERFECT_TILE:
                extent = int(sch.get(inputs[0]).extent)
                exact[position] = perfect_tilings(extent, int(attrs[0]), int(attrs[1]))
            elif inst.kind.name == CATEGORICAL:
                exact[position] = list(range(len(attrs[0])))
                self._categorical_probs[position] = np.array([float(p) for p in attrs[1]])

        self._replay_with(lambda position, inst, inputs, attrs, decision, sch:
                          (record_exact(position, inst, inputs, attrs, sch), decision)[1])
        seen = [set() if exact[i] is None else None for i in range(len(self.kinds))]
        for i, key in enumerate(own):
            if seen[i] is not None and key is not None:
                seen[i].add(key)
        open_positions = [i for i, s in enumerate(seen) if s is not None]
        for replay in range(discovery_replays if open_positions else 0):
            sch = self._replay_with(lambda position, inst, inputs, attrs, decision, sch:
                                    None if position in open_positions else decision,
                                    seed=self.seed * 7919 + replay + 1)
            if sch is None:
                continue
            decided = [_as_key(sch.trace.decisions.get(inst)) for inst in sch.trace.insts if is_sampling(inst)]
            for i in open_positions:
                if i < len(decided) and decided[i] is not None:
                    seen[i].add(decided[i])
        return [exact[i] if exact[i] is not None else sorted(seen[i]) or [own[i]] for i in range(len(self.kinds))]

    def knob_prior(self, tilings="uniform"):
        """Per knob, the relative weight of each value in a random config (``ARCOSearch`` normalises
        them): a categorical decision's own probabilities; tilings ``"uniform"`` (as MetaSchedule 0.27
        samples them) or ``"innermost_first"`` (innermost_first_probabilities); any other decision
        uniform over the values seen."""
        if tilings not in ("innermost_first", "uniform"):
            raise ValueError(f"tilings must be 'innermost_first' or 'uniform', not {tilings!r}")
        prior = []
        for position, (kind, domain) in enumerate(zip(self.kinds, self.domains)):
            if position in self._categorical_probs:
                weights = self._categorical_probs[position]
            elif kind == PERFECT_TILE and tilings == "innermost_first":
                weights = innermost_first_probabilities(domain)
            else:
                weights = np.ones(len(domain))
            prior.append(weights)
        return prior

    # ---- replay -------------------------------------------------------------------------------
    def _replay_with(self, provide, seed=None):
        """Replays the trace (postprocessing instructions removed); ``provide(position, inst, inputs,
        attrs, decision, sch)`` gives each sampling instruction's decision. None if the replay fails."""
        # Schedule seeds must lie in [1, 2**31 - 1].
        sch = self._schedule_cls(self._module(), seed=1 + (self.seed if seed is None else seed) % (2**31 - 2))
        counter = itertools.count()

        def provider(inst, inputs, attrs, decision):
            if not is_sampling(inst):
                return decision
            return provide(next(counter), inst, inputs, attrs, decision, sch)

        try:
            self.trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=provider)
        except self._tvm_error:
            return None
        return sch

    def _module(self):
        """The module to replay on: a copy per thread other than the one that made the space, as
        MetaSchedule's EvolutionarySearch gives each of its replay threads its own copy."""
        if threading.get_ident() == self._owner_thread:
            return self.mod
        if getattr(self._thread_copies, "mod", None) is None:
            self._thread_copies.mod = self._load_json(self._save_json(self.mod))
        return self._thread_copies.mod

    def decisions_of(self, knob_vector):
        return [self._decision(i, self.domains[i][int(v)]) for i, v in enumerate(knob_vector)]

    def _decision(self, position, value):
        if self.kinds[position] == PERFECT_TILE:
            return [int(x) for x in value]
        return value if not isinstance(value, tuple) else list(value)

    def schedule(self, index):
        """The postprocessed schedule of config ``index``, or None if replay or a postprocessor rejects it."""
        decisions = self.decisions_of(self.layout.to_knobs([index])[0])
        sch = self._replay_with(lambda position, inst, inputs, attrs, decision, sch: decisions[position])
        if sch is None:
            return None
        # The mark MetaSchedule puts before its postprocessors: a replay with ``remove_postproc=True`` (what
        # EvolutionarySearch does with the database's records after mutating them) drops what follows. Without
        # it, their instructions replay as the schedule's own, and after a changed compute location or tiling
        # their recorded loop counts no longer match (a fatal error in EvolutionarySearch).
        sch.enter_postproc()
        try:
            for postproc in self.postprocs:
                if not postproc.apply(sch):
                    return None
        except self._tvm_error:
            return None
        return sch

    def index_of(self, trace, structure=None):
        """The config index of a trace with this space's instructions (e.g. a database record), or None.
        ``structure``: the trace's ``structure_of``, when the caller has it (it is the costly part)."""
        if (structure_of(trace) if structure is None else structure)[:len(self.structure)] != self.structure:
            return None
        decided = [(inst.kind.name, _as_key(trace.decisions.get(inst))) for inst in trace.insts if is_sampling(inst)]
        if [kind for kind, _ in decided] != self.kinds:
            return None
        knobs = []
        for position, (_, key) in enumerate(decided):
            if self.kinds[position] == CATEGORICAL:
                value = key
            else:
                value = self._position[position].get(key)
            if value is None or not 0 <= value < self.layout.dims[position]:
                return None
            knobs.append(value)
        return int(self.layout.to_index(np.array([knobs]))[0])
