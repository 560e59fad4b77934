"""ARCOSearchStrategy: ARCO's search engine as a MetaSchedule search strategy (apache-tvm 0.27).

    from tvm_arco_plugin.metaschedule import ARCOSearchStrategy, local_builder
    database = ms.tune_tir(mod, target, work_dir, max_trials_global=256,
                           strategy=ARCOSearchStrategy(seed=0), builder=local_builder())

The glue is thin: each design space becomes a :class:`~.space.TraceSpace` (sampling decisions as
knobs) searched by its own ``search.engine.ARCOSearch``; MetaSchedule's task scheduler, builder,
runner, database and cost model are used as they are. The engines' surrogate is the task's cost
model once it has learnt (``XGBModel`` predicts at random before ``num_warmup_samples`` results);
until then, MetaSchedule's own ``XGBModel`` without warm-up, seeded, trained on this strategy's
measurements: one model over all design spaces (its features come from the schedules' IR, so the
spaces' scores are comparable). The first batches are small (``first_batch``, doubling up to
``num_trials_per_iter``) so that the model guides most of the first 64 trials.
"""
import inspect
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..search.engine import ARCOSearch, SearchSettings, ValidityMask
from ._tvm import require_metaschedule
from .space import TraceSpace, design_space_of, structure_of

tvm, ms = require_metaschedule()
from tvm.ir.utils import derived_object  # noqa: E402  (after the clear-message import check)
from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate, PySearchStrategy  # noqa: E402

logger = logging.getLogger(__name__)


# MetaSchedule's engine settings, where they differ from the engine's own: the global half of each round's
# walk budget goes to independent random configs, not to short walks from them. Simulated on three conv2d
# workloads (64 trials, docs/metaschedule.md "Where the agents walk"), that found schedules as fast or
# faster in 8 of 9 runs, with less time in the strategy. The agents still walk from the best configs.
METASCHEDULE_SETTINGS = {"global_horizon": 0}


def default_settings(**overrides):
    """The engine settings ARCOSearchStrategy uses by default, with ``overrides``."""
    return SearchSettings(**{**METASCHEDULE_SETTINGS, **overrides})


def measure_candidate(sch):
    return MeasureCandidate(sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True))


def seeded_xgb_model(seed, num_warmup_samples=0, adaptive_training=True):
    """MetaSchedule's own ``XGBModel``, seeded; with no warm-up it predicts from its first result on
    (the default of 100 warm-up results predicts at random until then). ``adaptive_training``: as in
    ``XGBModel``, retrain only once the data has grown by a fifth."""
    return ms.cost_model.XGBModel(num_warmup_samples=num_warmup_samples, adaptive_training=adaptive_training,
                                  config=ms.cost_model.xgb_model.XGBConfig(seed=seed))


def run_seconds(result):
    """Mean run time of a RunnerResult (or a TuningRecord), or None if the candidate failed to build or run."""
    if getattr(result, "error_msg", None) is not None or not result.run_secs:
        return None
    secs = [float(getattr(s, "value", s)) for s in result.run_secs]
    mean = float(np.mean(secs))
    # MetaSchedule records a failure's run time as 1e10 s in the database.
    return mean if 0 < mean < 1e9 else None


class StrategyStats:
    """What the strategy did, shared by an ARCOSearchStrategy and its clones: ``tune_tir`` tunes with a
    clone of the object it is given, so this is how the caller reads the figures afterwards."""

    def __init__(self):
        self.search_seconds = 0.0  # in this strategy (proposing, replaying, learning), not measuring
        self.measured = []  # (task name, design space id, config index, seconds or None), in order
        self.warm_started = 0  # database records recognised as configs at pre_tuning
        self.stopped = []  # (task name, one-line reason) for tasks stopped because everything failed
        # Per task and design space, at post_tuning: the share of its measured configs that only an agents'
        # move reached, and the policies' entropy (relative to uniform) in each round's walks: did they learn?
        self.agents = []


class _SpaceSearch:
    """One design space: its knobs, its engine, its replayed schedules and its fallback surrogate."""

    def __init__(self, space, seed, settings, knob_prior=None):
        self.space = space
        self.engine = ARCOSearch(space.layout, ValidityMask(space.layout.range_length), seed=seed, settings=settings,
                                 knob_prior=knob_prior)
        self.schedules = {}  # index -> postprocessed Schedule or None (invalid), up to 8,192 kept
        self.scores = {}  # index -> last surrogate score
        self.features = {}  # index -> its schedule's features for the early model, dropped with the schedules

    def schedule(self, index):
        return self.schedules_of([index])[0]

    def schedules_of(self, indexes, replay_threads=None):
        """The schedules of ``indexes``, those not kept replayed on ``replay_threads`` (a thread pool:
        TVM releases the GIL while it replays, so two threads replay ~1.75x as fast on two cores)."""
        missing = list(dict.fromkeys(i for i in indexes if i not in self.schedules))
        if len(self.schedules) + len(missing) > 8192:  # replays are cheap to redo; IRModules are not small
            self.schedules.clear()
            self.features.clear()
            missing = list(dict.fromkeys(indexes))
        if replay_threads is not None and len(missing) > 1:
            replayed = list(replay_threads.map(self.space.schedule, missing))
        else:
            replayed = [self.space.schedule(i) for i in missing]
        self.schedules.update(zip(missing, replayed))
        return [self.schedules[i] for i in indexes]


@derived_object
class ARCOSearchStrategy(PySearchStrategy):
    """ARCO (arXiv 2407.08192) as a MetaSchedule ``PySearchStrategy``.

    Parameters
    ----------
    seed: int, optional
        Seeds the engines (NumPy, torch) and the fallback model; None takes the TuneContext's
        ``rand_state`` (``tune_tir(seed=...)``). Same seed and same measurements give the same candidates.
    candidates_per_round: int
        Cost-model evaluations of a round that proposes a full batch (``num_trials_per_iter``), shared by
        the design spaces; see ``round_budget`` for smaller batches.
    first_batch: int
        Size of the first batch; each next batch is as large as all measured so far, up to
        ``num_trials_per_iter`` (0: every batch is ``num_trials_per_iter``).
    max_batch: int or None
        Largest batch, below ``num_trials_per_iter``: the task's cost model is updated after every batch,
        so smaller batches mean more rounds guided by a model that has seen more (None: up to
        ``num_trials_per_iter``).
    min_space_share: float
        Share of every batch split evenly over the design spaces, whatever their scores.
    max_failed_batches: int
        Consecutive batches in which every candidate failed to build or run before the task stops.
    tilings: str
        How random configs and the first batch draw tilings (``TraceSpace.knob_prior``): ``"uniform"``
        over the tilings, as MetaSchedule does, or ``"innermost_first"`` (every innermost factor equally
        likely: in simulation, slower schedules; docs/benchmarks.md).
    tile_moves: str
        The agents' actions on a tiling (``TraceSpace``): ``"set"`` any tiling of the loop, or
        ``"factor"`` move one prime factor between two of its levels, as MetaSchedule's mutator does.
    tile_observation: str
        How the agents see a tiling (``TraceSpace``): ``"index"`` its index among the loop's tilings, or
        ``"factors"`` the factor of each level.
    space_budget: str
        How a round's candidates are split over the design spaces: ``"even"``, or
        ``"by_picks"``: at least twice the engine's elite each, the rest in proportion to each space's
        share of the last batch (the spaces whose candidates the model rates highest are searched most).
    round_budget: str
        How many candidates a round scores: ``"by_batch"`` (the default), ``candidates_per_round`` x batch
        size / ``num_trials_per_iter`` (32 per trial to measure at the defaults; at least ``elite + 1`` per
        design space), so the small first batches score a quarter and a half of a full round; or
        ``"fixed"``, ``candidates_per_round`` whatever the batch (the default until 2026-12-03: as good at
        64 trials and 2.5x the time in the strategy; docs/metaschedule.md, "Where the strategy's time goes").
    late_generations: int or None
        Generations of the local walks (``SearchSettings.generations``) once the task's cost model has
        learnt and the task has ``late_generations_after`` results of its own; before, the settings' own
        (1 by default). None (the default): the settings' own to the end. 4 was better in simulation and
        not live (docs/metaschedule.md, "Climbing the cost model harder"). A model trained on other tasks
        only (a prior) does not count: followed harder, it found slower schedules.
    late_generations_after: int
        Results of the task (measured or resumed) from which ``late_generations`` apply; 100 is when
        MetaSchedule's ``XGBModel`` ends its warm-up.
    space_picks: str
        How the batch beyond ``min_space_share`` is split over the design spaces: ``"by_score"`` (the default)
        the proposals with the best predicted scores across spaces, or ``"by_measured"`` in proportion to
        each space's configs among the task's ``measured_top`` fastest measured so far (each space's own
        proposals in its engine's order), as EvolutionarySearch's population grows from the measured best.
    measured_top: int
        The fastest measured configs ``space_picks="by_measured"`` counts.
    random_share: float
        Share of every batch, once a model has learnt, given to random configs (a design space drawn at
        random, then a config of it), whatever the model predicts for them: EvolutionarySearch's
        ``eps_greedy`` (0.05 there; ``int(batch x share)`` slots, so 3 of 64 and none of 16). 0 by default.
    evolutionary_after: int or None
        Results of the task (measured or resumed) from which MetaSchedule's own ``EvolutionarySearch``
        proposes the batches instead of the agents, starting from the database ARCO filled (its population
        grows from the fastest measured); what ARCO measured is never proposed again. Needs a database.
        None (the default): ARCO to the end.
    """

    def __init__(self, seed=None, candidates_per_round=2048, first_batch=16, min_space_share=0.25,
                 max_failed_batches=2, settings=None, stats=None, tilings="uniform",
                 tile_moves="set", tile_observation="index", space_budget="even", late_generations=None,
                 late_generations_after=100, round_budget="by_batch", max_batch=None, space_picks="by_score",
                 measured_top=16, random_share=0.0, evolutionary_after=None):
        if evolutionary_after is not None and evolutionary_after < 0:
            raise ValueError(f"evolutionary_after must be at least 0 (or None), not {evolutionary_after}")
        if not 0.0 <= random_share < 1.0:
            raise ValueError(f"random_share must be at least 0 and below 1, not {random_share}")
        if space_picks not in ("by_score", "by_measured"):
            raise ValueError(f"space_picks must be 'by_score' or 'by_measured', not {space_picks!r}")
        if measured_top < 1:
            raise ValueError(f"measured_top must be at least 1, not {measured_top}")
        if space_budget not in ("even", "by_picks"):
            raise ValueError(f"space_budget must be 'even' or 'by_picks', not {space_budget!r}")
        if round_budget not in ("fixed", "by_batch"):
            raise ValueError(f"round_budget must be 'fixed' or 'by_batch', not {round_budget!r}")
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be at least 1 (or None), not {max_batch}")
        if late_generations is not None and late_generations < 1:
            raise ValueError(f"late_generations must be at least 1 (or None), not {late_generations}")
        self.seed = seed
        self.space_budget = space_budget
        self.round_budget = round_budget
        self.space_picks = space_picks
        self.measured_top = measured_top
        self.random_share = random_share
        self.evolutionary_after = evolutionary_after
        self.late_generations = late_generations
        self.late_generations_after = late_generations_after
        self.tilings = tilings
        self.tile_moves = tile_moves
        self.tile_observation = tile_observation
        self.candidates_per_round = candidates_per_round
        self.first_batch = first_batch
        self.max_batch = max_batch
        self.min_space_share = min_space_share
        self.max_failed_batches = max_failed_batches
        self.settings = settings
        self.context = None
        self.spaces = []
        self.replay_threads = None
        self.stats = stats if stats is not None else StrategyStats()

    # ---- the PySearchStrategy contract ---------------------------------------------------------
    def _initialize_with_tune_context(self, context) -> None:
        self.context = context
        if self.seed is None:
            self.seed = int(context.rand_state) % (2**31 - 1)

    def pre_tuning(self, max_trials, num_trials_per_iter, design_spaces, database=None, cost_model=None):
        tic = time.time()
        self.max_trials, self.per_iter = int(max_trials), int(num_trials_per_iter)
        self.database, self.cost_model = database, cost_model
        if self.evolutionary_after is not None and database is None:
            raise ValueError("ARCOSearchStrategy(evolutionary_after=...) needs a database: EvolutionarySearch "
                             "starts from the fastest records in it")
        self.design_space_schedules = list(design_spaces)
        self.evolutionary = None  # MetaSchedule's EvolutionarySearch, once it proposes
        self._evolutionary_context = None  # its TuneContext, kept alive: the search holds only a raw pointer to it
        self._task_model_ready = False
        self.early_model = seeded_xgb_model(self.seed)
        self.rng = np.random.default_rng([self.seed, 1])  # the random share's design spaces
        self.trials = 0
        self.failed_batches = 0
        self.first_error = None
        self.pending = []
        # The task model's readiness probe: a few schedules of the last batch; before any, the design
        # spaces themselves (a cost model trained on earlier tunes has learnt before the first batch).
        self.last_measured = list(design_spaces)[:8]
        base = self.settings or default_settings()
        # A space's engine follows the shared model as soon as the model has learnt, even before the
        # space has a measurement of its own: whether to is decided here (_pick), not by the engine.
        # Its budget is set before every round it may start (_split_budget), so base's is a placeholder.
        def settings():  # one per space: budget and generations change per space during the task
            return SearchSettings(**{**base.__dict__, "explore_every": 1, "init_trials": 0})
        threads = int(getattr(self.context, "num_threads", 1) or 1)
        self.replay_threads = ThreadPoolExecutor(threads, thread_name_prefix="arco-replay") if threads > 1 else None
        postprocs = self.context.space_generator.postprocs
        traces = [TraceSpace(self.context.mod, space, postprocs, space_id=i, seed=self.seed, tile_moves=self.tile_moves,
                             tile_observation=self.tile_observation)
                  for i, space in enumerate(design_spaces)]
        self.last_batch_spaces = []  # the design space of each config in the last batch
        self.spaces = [_SpaceSearch(trace, seed=self.seed + 1000 * i, settings=settings(),
                                    knob_prior=trace.knob_prior(self.tilings))
                       for i, trace in enumerate(traces)]
        self.resumed = self._warm_start()
        self.stats.warm_started += self.resumed
        self.stats.search_seconds += time.time() - tic

    def post_tuning(self) -> None:
        task = getattr(self.context, "task_name", None)
        for space in self.spaces:
            engine = space.engine
            self.stats.agents.append({"task": task, "space": space.space.space_id,
                                      "walk_share": round(engine.share_from("walk"), 4),
                                      "entropy_per_round": [(n, round(e, 4)) for n, e in engine.entropy_per_round]})
            space.schedules.clear()
            space.features.clear()
        self.pending = []
        if self.evolutionary is not None:
            self.evolutionary.post_tuning()
            self.evolutionary = self._evolutionary_context = None
        if self.replay_threads is not None:
            self.replay_threads.shutdown()
            self.replay_threads = None

    def generate_measure_candidates(self):
        tic = time.time()
        try:
            n = min(self.per_iter, self.max_trials - self.trials)
            if self.first_batch:
                n = min(n, max(self.first_batch, self.trials + self.resumed))
            if self.max_batch:
                n = min(n, self.max_batch)
            if n <= 0 or self.failed_batches >= self.max_failed_batches:
                return None
            if self.evolutionary_after is not None and self.trials + self.resumed >= self.evolutionary_after:
                self.pending = self._evolutionary_picks(n)
            else:
                self.pending = self._pick(n)
            if not self.pending:
                return None
            return [measure_candidate(sch) for _, _, sch in self.pending]
        finally:
            self.stats.search_seconds += time.time() - tic

    def notify_runner_results(self, measure_candidates, results) -> None:
        tic = time.time()
        secs = [run_seconds(r) for r in results]
        task = getattr(self.context, "task_name", None)
        for (space_id, index, _), sec in zip(self.pending, secs):
            self.stats.measured.append((task, space_id, index, sec))
        self._observe([(space_id, index) for space_id, index, _ in self.pending], secs)
        # After the task's last batch nothing will be scored again, so the early model is not retrained for it.
        if not self._task_model_ready and self.trials + len(results) < self.max_trials:
            self.early_model.update(self.context, list(measure_candidates), list(results))
        if self.evolutionary is not None:  # it counts its trials (and stops) by the results it is told of
            self.evolutionary.notify_runner_results(list(measure_candidates), list(results))
        self.trials += len(results)
        self.last_measured = [sch for _, _, sch in self.pending[:8]]
        if secs and all(s is None for s in secs):
            self.failed_batches += 1
            if self.first_error is None:
                self.first_error = next((r.error_msg for r in results if r.error_msg), "no run time")
            if self.failed_batches >= self.max_failed_batches:
                lines = [line.strip() for line in self.first_error.strip().splitlines() if line.strip()]
                cause = lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"
                reason = (f"ARCO: task {task!r} stops after {self.failed_batches} batches in which every candidate "
                          f"failed to build or run; first error: {cause}")
                self.stats.stopped.append((task, reason))
                logger.warning(reason)
        else:
            self.failed_batches = 0
        self.pending = []
        self.stats.search_seconds += time.time() - tic

    def clone(self):
        # Every constructor argument is kept under its own name, so a new option cannot be left out here.
        options = list(inspect.signature(type(self).__init__).parameters)[1:]
        return ARCOSearchStrategy(**{name: getattr(self, name) for name in options})

    # ---- measurements --------------------------------------------------------------------------
    def _observe(self, keys, secs):
        """Throughput 1/seconds (0 for failures) to the engines; configs of no design space's knobs (index
        None: EvolutionarySearch's MutateParallel changes an annotation the knobs do not hold) are skipped."""
        by_space = {}
        for (space_id, index), sec in zip(keys, secs):
            if index is None:
                continue
            by_space.setdefault(space_id, []).append((index, 0.0 if sec is None else 1.0 / sec))
        for space_id, pairs in by_space.items():
            self.spaces[space_id].engine.observe([i for i, _ in pairs], [v for _, v in pairs])

    def _warm_start(self):
        """Records of this workload already in the database (an earlier or interrupted run) count as
        measured: never proposed again, and the engines start from them."""
        if self.database is None or not self.database.has_workload(self.context.mod):
            return 0
        workload = self.database.commit_workload(self.context.mod)
        keys, secs, candidates, results = [], [], [], []
        for record in self.database.get_top_k(workload, max(len(self.database), 1)):
            space_id, index = self._config_of(record.trace)
            if index is None:
                continue
            sec = run_seconds(record)
            keys.append((space_id, index))
            secs.append(sec)
            sch = self.spaces[space_id].schedule(index)
            if sch is not None:
                candidates.append(measure_candidate(sch))
                results.append(ms.runner.RunnerResult(run_secs=None if sec is None else record.run_secs,
                                                      error_msg=None if sec is not None else "failed"))
        if keys:
            self._observe(keys, secs)
            self.early_model.update(self.context, candidates, results)
            self.last_measured = [c.sch for c in candidates[:8]]
        return len(keys)

    def _config_of(self, trace):
        """(design space id, config index) of a trace, each None if it is of no design space's knobs."""
        structure = structure_of(trace)  # once per trace: it is the costly part
        # The longest matching design space, as the benchmark labels traces: a space whose instructions were a
        # prefix of another's would otherwise take the other's records.
        space_id = design_space_of(trace, [space.space.structure for space in self.spaces], structure)
        return space_id, None if space_id is None else self.spaces[space_id].space.index_of(trace, structure)

    # ---- proposals -----------------------------------------------------------------------------
    def _check_task_model(self, schedules):
        """Whether the task's cost model has learnt, tested once per batch on ``schedules``.

        ``XGBModel`` returns uniform random numbers until it has ``num_warmup_samples`` (100) results,
        and the strategy sees the task's model only through its FFI wrapper, so the test is behavioural:
        a model that has learnt gives the same scores twice. The model changes only between batches;
        once it has learnt, it is trusted for the rest of the task."""
        if self.cost_model is None or self._task_model_ready or not schedules:
            return
        probe = [measure_candidate(s) for s in schedules]
        first, again = (np.asarray(self.cost_model.predict(self.context, probe), dtype=np.float64) for _ in range(2))
        self._task_model_ready = bool(np.allclose(first, again))
        logger.debug("ARCO: the task's cost model %s", "has learnt" if self._task_model_ready else
                     "still predicts at random; scoring with the early model")

    def _model_scores(self, space, indexes, schedules):
        """Scores of configs ``indexes`` of ``space`` (their ``schedules``): the task's cost model once it has
        learnt, else the early model."""
        if self._task_model_ready:
            candidates = [measure_candidate(s) for s in schedules]
            return np.asarray(self.cost_model.predict(self.context, candidates), dtype=np.float64)
        return self._early_model_scores(space, indexes, schedules)

    def _early_model_scores(self, space, indexes, schedules):
        """What ``self.early_model.predict`` returns for these configs, with each config's features extracted
        once while its schedule is kept, not at every scoring: the walks and the rounds score many configs
        again (about 40% of the scores of a 64-trial run), and extracting features is most of a prediction's
        cost. ``XGBModel._predict`` is the call ``predict`` makes on the features (apache-tvm 0.27)."""
        missing = dict((i, s) for i, s in zip(indexes, schedules) if i not in space.features)
        if missing:
            extracted = self.early_model.extractor.extract_from(
                self.context, [measure_candidate(s) for s in missing.values()])
            space.features.update((i, x.numpy().astype("float32")) for i, x in zip(missing, extracted))
        return self.early_model._predict([space.features[i] for i in indexes]).astype("float64")

    def _surrogate(self, space):
        def surrogate(indexes):
            indexes = [int(i) for i in indexes]
            schedules = space.schedules_of(indexes, self.replay_threads)
            valid = np.array([s is not None for s in schedules], dtype=bool)
            scores = np.zeros(len(indexes))
            if valid.any():
                predicted = self._model_scores(space, [i for i, ok in zip(indexes, valid) if ok],
                                               [s for s in schedules if s is not None])
                scores[valid] = predicted
                scores[~valid] = predicted.min() - max(predicted.std(), 1.0)
            else:
                scores[:] = -1.0
            for index, score in zip(indexes, scores):
                space.scores[index] = float(score)
            return scores

        return surrogate

    def _pick(self, n):
        """Up to ``n`` (space id, index, schedule) to measure: every engine proposes, the invalid are
        reported as failures and replaced, and the batch takes ``min_space_share`` evenly over the
        spaces, ``random_share`` at random, and the rest by predicted score."""
        self._check_task_model(self.last_measured)
        # Until a model has learnt (the task's, possibly from earlier tunes, or the early model after a
        # batch): the engines' initial designs, round robin over the spaces.
        learnt = self._task_model_ready or self.early_model.booster is not None
        if (self.late_generations and self._task_model_ready
                and self.trials + self.resumed >= self.late_generations_after):
            for space in self.spaces:
                space.engine.settings.generations = self.late_generations
        n_random = int(n * self.random_share) if learnt else 0
        n -= n_random
        self._split_budget(n)
        offers = [self._valid_proposals(space, n, self._surrogate(space) if learnt else None) for space in self.spaces]
        guaranteed = int(n * self.min_space_share) // max(len(self.spaces), 1) if learnt else n
        batch, rest = [], []
        for round_robin in range(n):
            for space_id, offer in enumerate(offers):
                if round_robin < len(offer) and round_robin < guaranteed and len(batch) < n:
                    batch.append((space_id,) + offer[round_robin])
                elif round_robin < len(offer) and round_robin >= guaranteed:
                    rest.append((space_id,) + offer[round_robin])
        if learnt and self.space_picks == "by_measured":
            batch += self._by_measured_share(rest, n - len(batch))
        else:
            batch += self._best_scored(rest, n - len(batch))
        batch += self._random_configs(n_random, batch)
        self.last_batch_spaces = [space_id for space_id, _, _ in batch]
        return batch

    def _evolutionary_picks(self, n):
        """Up to ``n`` (space id or None, index or None, schedule) from MetaSchedule's EvolutionarySearch,
        started on the first call. It keeps its own record of what it measured, which starts empty, and its
        population starts from the database's fastest records, so at first it offers configs ARCO measured:
        those are skipped, and it is asked again (it never offers a config twice)."""
        if self.evolutionary is None:
            # Its own TuneContext, seeded by this strategy's seed (the task's may be unseeded), on one thread:
            # its threads take work as they free up, so on two its candidates differ from run to run.
            # Re-initialising the shared space generator with it is harmless: same module and target.
            self._evolutionary_context = ms.TuneContext(
                self.context.mod, target=self.context.target, space_generator=self.context.space_generator,
                task_name=self.context.task_name, rand_state=self.seed + 1, num_threads=1)
            self.evolutionary = ms.search_strategy.EvolutionarySearch()
            self.evolutionary._initialize_with_tune_context(self._evolutionary_context)
            self.evolutionary.pre_tuning(self.max_trials, self.per_iter, self.design_space_schedules, self.database,
                                         self.cost_model)
        picks, taken = [], set()
        for _ in range(8):
            offered = self.evolutionary.generate_measure_candidates()
            if not offered:
                break
            for candidate in offered:
                space_id, index = self._config_of(candidate.sch.trace)
                if index is not None and ((space_id, index) in taken
                                          or index in self.spaces[space_id].engine.measured):
                    continue
                taken.add((space_id, index))
                picks.append((space_id, index, candidate.sch))
                if len(picks) == n:
                    return picks
        return picks

    def _random_configs(self, k, batch):
        """``k`` valid configs not measured and not in ``batch``, each of a design space drawn at random (as
        EvolutionarySearch samples its random population); those the postprocessors refuse count as failed."""
        picks = []
        taken = {(space_id, index) for space_id, index, _ in batch}
        for space_id in self.rng.integers(len(self.spaces), size=k).tolist():
            space = self.spaces[space_id]
            for _ in range(8):
                drawn = space.engine.random_unmeasured(1, exclude=[i for s, i in taken if s == space_id])
                if not drawn:
                    break
                replayable = self._replayable(space, drawn)
                if replayable:
                    picks.append((space_id,) + replayable[0])
                    taken.add((space_id, drawn[0]))
                    break
        return picks

    def _best_scored(self, proposals, k):
        """The ``k`` of ``proposals`` (space id, index, schedule) with the best predicted scores, best first."""
        scores = [self.spaces[s].scores.get(i, 0.0) for s, i, _ in proposals]
        return [proposals[int(position)] for position in np.argsort(-np.asarray(scores), kind="stable")[:k]]

    def _by_measured_share(self, rest, slots):
        """``slots`` of ``rest`` (proposals beyond the guaranteed share, each space's in its engine's order), in
        proportion to each space's configs among the task's ``measured_top`` fastest measured; slots a space
        has too few proposals for go to the best-scored of the others. By score while nothing has worked."""
        measured = [(value, space_id) for space_id, space in enumerate(self.spaces)
                    for value in space.engine.measured.values() if value > 0]
        if not measured:
            return self._best_scored(rest, slots)
        top = np.bincount([space_id for _, space_id in sorted(measured, reverse=True)[: self.measured_top]],
                          minlength=len(self.spaces))
        shares = slots * top / top.sum()
        quota = np.floor(shares).astype(int)
        for space_id in np.argsort(-(shares - quota), kind="stable")[: slots - quota.sum()]:
            quota[space_id] += 1
        offers = [[p for p in rest if p[0] == space_id] for space_id in range(len(self.spaces))]
        chosen = [p for space_id, offer in enumerate(offers) for p in offer[: quota[space_id]]]
        spare = [p for space_id, offer in enumerate(offers) for p in offer[quota[space_id]:]]
        return chosen + self._best_scored(spare, slots - len(chosen))

    def _split_budget(self, n):
        """Each engine's budget for the round that proposes a batch of ``n``: the round's candidates
        (``round_budget``) split evenly over the spaces, or with ``space_budget="by_picks"`` twice the elite
        each (so that a space the model rates low still gets walks and random configs) and the rest in
        proportion to the space's configs in the last batch."""
        if not self.spaces:
            return
        total = self.candidates_per_round
        if self.round_budget == "by_batch":
            total = self.candidates_per_round * n // max(self.per_iter, 1)
        elite = self.spaces[0].engine.settings.elite
        even = max(elite + 1, total // len(self.spaces))
        budgets = [even] * len(self.spaces)
        floor = 2 * elite
        spare = total - floor * len(self.spaces)
        # With too many spaces for the floor, or no batch yet to take shares from: the even split.
        if self.space_budget == "by_picks" and self.last_batch_spaces and spare > 0:
            counts = np.bincount(self.last_batch_spaces, minlength=len(self.spaces))
            budgets = [floor + int(spare * count / counts.sum()) for count in counts]
        for space, budget in zip(self.spaces, budgets):
            space.engine.settings.candidates_per_round = budget

    def _valid_proposals(self, space, n, surrogate, max_rounds=8):
        """The engine's proposals (in its order) whose replay and postprocessors succeed."""
        found, seen = [], set()
        for _ in range(max_rounds):
            proposed = [i for i in space.engine.propose(n - len(found), surrogate) if i not in seen]
            if not proposed:
                break
            seen.update(proposed)
            found += self._replayable(space, proposed)
            if len(found) >= n:
                break
        return found

    @staticmethod
    def _replayable(space, indexes):
        """(index, schedule) of the ``indexes`` whose replay and postprocessors succeed, in order; the others
        are reported to the space's engine as failures (throughput 0), so it never proposes them again."""
        schedules = [(index, space.schedule(index)) for index in indexes]
        invalid = [index for index, sch in schedules if sch is None]
        if invalid:
            space.engine.observe(invalid, [0.0] * len(invalid))
        return [(index, sch) for index, sch in schedules if sch is not None]

