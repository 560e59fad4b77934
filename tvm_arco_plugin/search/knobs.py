"""The task's knobs as the search engine sees them, and which agent owns which knob.

A config is an index into AutoTVM's ConfigSpace (mixed radix, first knob least significant); the
engine works on the equivalent knob-index vector so that agents can move one knob at a time.
"""
from dataclasses import dataclass

import numpy as np

HARDWARE, SCHEDULING, MAPPING = "hardware", "scheduling", "mapping"
AGENTS = (HARDWARE, SCHEDULING, MAPPING)

HARDWARE_PREFIX = "hw_"
# define_knob names that control parallelism/threading/unrolling/vectorisation belong to scheduling.
_SCHEDULING_WORDS = ("unroll", "thread", "parallel", "vec", "fuse", "pipeline", "order", "reorder", "ann")
_MAPPING_WORDS = ("tile", "split", "block", "bn", "factor")


@dataclass(frozen=True)
class Knob:
    name: str
    kind: str  # AutoTVM TransformSpace class name: SplitSpace, ReorderSpace, AnnotateSpace, OtherOptionSpace, ...
    size: int


def default_agent_for(knob, hardware_knobs=()):
    """The documented default rule (docs/design.md, "Knob ownership")."""
    if knob.name in hardware_knobs or knob.name.startswith(HARDWARE_PREFIX):
        return HARDWARE
    if knob.kind == "SplitSpace":
        return MAPPING
    if knob.kind in ("ReorderSpace", "AnnotateSpace"):
        return SCHEDULING
    lowered = knob.name.lower()
    if any(word in lowered for word in _SCHEDULING_WORDS):
        return SCHEDULING
    if any(word in lowered for word in _MAPPING_WORDS):
        return MAPPING
    return SCHEDULING


class KnobLayout:
    """Knob sizes, index <-> knob-vector conversion (vectorised) and the agent -> knobs assignment.

    ``moves``: knob position -> int array [knob size, n_moves], the value that move m reaches from value
    v (v itself where the move does not apply). An agent's actions on such a knob are its moves,
    relative to where the walker is; on any other knob an action sets one of the knob's values.

    ``features``: knob position -> float array [knob size, width], how the agents see each value of the
    knob (``observe``); any other knob is seen as its index scaled to [0, 1] (``normalise``)."""

    def __init__(self, knobs, hardware_knobs=(), agent_knobs=None, moves=None, features=None):
        self.knobs = list(knobs)
        self.names = [k.name for k in self.knobs]
        self.dims = np.array([k.size for k in self.knobs], dtype=np.int64)
        self.radix = np.concatenate(([1], np.cumprod(self.dims)[:-1])).astype(np.int64)
        self.range_length = int(np.prod(self.dims)) if len(self.dims) else 1
        self.assignment = self._assign(hardware_knobs, agent_knobs or {})
        # Agents without knobs take no part; at least one agent always has knobs unless the space is trivial.
        self.agents = [a for a in AGENTS if self.assignment[a]]
        self.columns = {a: np.array([self.names.index(n) for n in self.assignment[a]], dtype=np.int64)
                        for a in self.agents}
        self.moves = {int(k): np.asarray(table, dtype=np.int64) for k, table in (moves or {}).items()}
        for position, table in self.moves.items():
            if table.ndim != 2 or table.shape[0] != self.dims[position] or (table.size and (
                    table.min() < 0 or table.max() >= self.dims[position])):
                raise ValueError(f"moves of knob {position} must map each of its {self.dims[position]} values "
                                 f"to values of the knob, got shape {table.shape}")
        self.features = {int(k): np.asarray(table, dtype=np.float32) for k, table in (features or {}).items()}
        for position, table in self.features.items():
            if table.ndim != 2 or table.shape[0] != self.dims[position]:
                raise ValueError(f"features of knob {position} must have one row for each of its "
                                 f"{self.dims[position]} values, got shape {table.shape}")
        widths = [self.features[k].shape[1] if k in self.features else 1 for k in range(len(self.dims))]
        starts = np.concatenate(([0], np.cumsum(widths))).astype(np.int64)
        self.observation_width = int(starts[-1])
        # Per agent, its knobs' columns in ``observe``'s output.
        self.observation_columns = {a: np.concatenate([np.arange(starts[k], starts[k + 1]) for k in self.columns[a]])
                                    .astype(np.int64) for a in self.agents}
        # Per knob, how many actions an agent has on it.
        self.action_sizes = np.array([self.moves[k].shape[1] if k in self.moves else self.dims[k]
                                      for k in range(len(self.dims))], dtype=np.int64)

    @classmethod
    def from_config_space(cls, space, hardware_knobs=(), agent_knobs=None):
        knobs = [Knob(name, type(tspace).__name__, len(tspace)) for name, tspace in space.space_map.items()]
        return cls(knobs, hardware_knobs, agent_knobs)

    def _assign(self, hardware_knobs, agent_knobs):
        unknown_agents = set(agent_knobs) - set(AGENTS)
        if unknown_agents:
            raise ValueError(f"unknown agent(s) {sorted(unknown_agents)}; agents are {list(AGENTS)}")
        explicit = {}
        for agent, names in agent_knobs.items():
            for name in names:
                if name not in self.names:
                    raise ValueError(f"agent_knobs[{agent!r}] names knob {name!r}, not in this task's "
                                     f"config space (knobs: {self.names})")
                if name in explicit:
                    raise ValueError(f"knob {name!r} is given to both {explicit[name]!r} and {agent!r}")
                explicit[name] = agent
        missing_hw = [n for n in hardware_knobs if n not in self.names]
        if missing_hw:
            raise ValueError(f"hardware_knobs {missing_hw} are not in this task's config space ({self.names})")
        assignment = {a: [] for a in AGENTS}
        for knob in self.knobs:
            assignment[explicit.get(knob.name) or default_agent_for(knob, hardware_knobs)].append(knob.name)
        return assignment

    def act_on(self, positions, current, actions):
        """The values that ``actions`` (an action index on each knob of ``positions``) give knobs whose
        values are ``current``."""
        values = np.array(actions, dtype=np.int64)
        for position, table in self.moves.items():
            at = positions == position
            if at.any():
                values[at] = table[current[at], values[at]]
        return values

    def to_knobs(self, indexes):
        """Config indexes (shape [n]) -> knob-index matrix (shape [n, n_knobs])."""
        indexes = np.asarray(indexes, dtype=np.int64).reshape(-1, 1)
        return (indexes // self.radix) % self.dims

    def to_index(self, knob_matrix):
        return (np.asarray(knob_matrix, dtype=np.int64) * self.radix).sum(axis=-1)

    def normalise(self, knob_matrix):
        """Knob indexes scaled to [0, 1] per knob (how the agents see a knob without features)."""
        return np.asarray(knob_matrix, dtype=np.float32) / np.maximum(self.dims - 1, 1).astype(np.float32)

    def observe(self, knob_matrix):
        """The agents' and critic's observation of configs: per knob its ``features`` row, or its scaled
        index; [n, observation_width]."""
        scaled = self.normalise(knob_matrix)
        if not self.features:
            return scaled
        knob_matrix = np.asarray(knob_matrix, dtype=np.int64)
        return np.concatenate([self.features[k][knob_matrix[:, k]] if k in self.features else scaled[:, k:k + 1]
                               for k in range(len(self.dims))], axis=1)
