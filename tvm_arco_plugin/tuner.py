"""ARCOTuner: the thin AutoTVM glue around the ARCO search engine (``tvm_arco_plugin.search``).

Drop-in replacement for ``tvm.autotvm.tuner.XGBTuner``: same constructor shape, the unchanged
``Tuner.tune`` loop, TVM's own ``XGBoostCostModel`` (regression loss) as the surrogate.
"""
import contextlib
import logging
import random
import time

import numpy as np
import torch
from tvm.autotvm.measure import MeasureInput
from tvm.autotvm.tuner import Tuner
from tvm.autotvm.tuner.xgboost_cost_model import XGBoostCostModel

from .records import settled_records
from .search.engine import ARCOSearch, SearchSettings, ValidityMask
from .search.knobs import KnobLayout
from .search.uncertainty import BootstrapSpread

logger = logging.getLogger("autotvm")


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _numpy_global_seed(seed):
    # XGBoostCostModel shuffles with the global np.random; pin it so proposals depend only on our seed
    # and the measurements, whatever else in the process draws from np.random.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def validity_of(space):
    if len(space) == space.range_length:
        return ValidityMask(space.range_length)
    return ValidityMask(space.range_length, [space.is_index_valid(i) for i in range(space.range_length)])


def throughput(task, result):
    return task.flop / np.mean(result.costs) if result.error_no == 0 else 0.0


class ARCOTuner(Tuner):
    """Multi-agent RL tuner (ARCO, arXiv 2407.08192) for AutoTVM.

    Parameters
    ----------
    task: autotvm.task.Task
    plan_size: int
        Measurements between two MARL exploration rounds; also the top-N of the cost model's
        early-stopping metric. The cost model itself is refit after every measured batch.
    feature_type: str
        ``"knob"`` (default: computed in-process, fast, works on every target), ``"itervar"`` or
        ``"curve"``: the XGBoostCostModel feature, as in XGBTuner.
    num_threads: int, optional
        Threads of the cost model (as in XGBTuner).
    seed: int
        Seeds Python's ``random``, NumPy and torch; same seed and same measurements give the same
        proposals.
    hardware_knobs: list of str
        Knobs owned by the hardware agent (in addition to every knob whose name starts with ``hw_``).
    agent_knobs: dict, optional
        Explicit ``{"hardware"|"scheduling"|"mapping": [knob names]}``; unlisted knobs follow the
        default rule (docs/design.md).
    settings: SearchSettings, optional
        Search hyper-parameters (defaults are used for every benchmark in docs/).
    """

    def __init__(self, task, plan_size=8, feature_type="knob", num_threads=None, seed=0,
                 hardware_knobs=(), agent_knobs=None, settings=None, log_interval=50):
        super().__init__(task)
        self.seed = int(seed)
        seed_everything(self.seed)
        self.plan_size = plan_size
        settings = settings or SearchSettings(explore_every=plan_size)
        self.layout = KnobLayout.from_config_space(self.space, hardware_knobs, agent_knobs)
        self.search = ARCOSearch(self.layout, validity_of(self.space), seed=self.seed, settings=settings)
        self.feature_type = feature_type
        self.cost_model = XGBoostCostModel(task, feature_type=feature_type, loss_type="reg",
                                           num_threads=num_threads, log_interval=log_interval // 2)
        # Where measurements fail (invalid configs), the same cost model, fit on 1 = worked / 0 = failed,
        # estimates the chance a config works; the main model then learns throughput from the configs
        # that worked only, so a failure does not read as "slow" to it (constrained-BO style).
        self.validity_model = XGBoostCostModel(task, feature_type=feature_type, loss_type="reg",
                                               num_threads=num_threads, log_interval=log_interval // 2,
                                               upper_model=self.cost_model)
        self._validity_ready = False
        # With settings.optimism > 0: how unsure the cost model is, from a bootstrap ensemble of the same kind
        # of model on knob features (search/uncertainty.py).
        self.spread_model = BootstrapSpread(seed=self.seed) if settings.optimism > 0 else None
        self.xs, self.ys = [], []
        self._retry = []  # configs whose logged measurements failed for infrastructure reasons: measured first
        self._model_ready = False
        self._fits = 0
        self.time_in_next_batch = 0.0
        self.time_in_update = 0.0
        for agent in self.layout.agents:
            logger.debug("ARCO %s agent owns knobs %s", agent, self.layout.assignment[agent])

    @property
    def search_seconds(self):
        """Seconds spent proposing and learning (not measuring), over the tuner's lifetime."""
        return self.time_in_next_batch + self.time_in_update

    # ---- the Tuner contract -------------------------------------------------------------------
    def has_next(self):
        return self.search.n_unmeasured > 0

    def next_batch(self, batch_size):
        tic = time.time()
        surrogate = self._predict if self._model_ready else None
        spread = self._spread if self.spread_model is not None and self.spread_model.ready else None
        self._retry = [i for i in self._retry if i not in self.search.measured]
        indexes = self._retry[:batch_size]
        if len(indexes) < batch_size:
            indexes += [i for i in self.search.propose(batch_size - len(indexes), surrogate, spread)
                        if i not in indexes]
        configs = [self.space.get(index) for index in indexes]
        self.time_in_next_batch += time.time() - tic
        logger.debug("ARCO next_batch: %d configs in %.3f s", len(configs), time.time() - tic)
        return configs

    def update(self, inputs, results):
        tic = time.time()
        indexes, values = [], []
        for inp, res in zip(inputs, results):
            indexes.append(inp.config.index)
            values.append(throughput(inp.task, res))
        self._record(indexes, values)
        self.time_in_update += time.time() - tic
        logger.debug("ARCO update: %d results in %.3f s", len(inputs), time.time() - tic)

    def tune(self, *args, **kwargs):  # pylint: disable=arguments-differ
        start_next, start_update = self.time_in_next_batch, self.time_in_update
        try:
            super().tune(*args, **kwargs)
        finally:
            self.cost_model._close_pool()  # pylint: disable=protected-access
        logger.info("ARCO: %d configs measured for %s; time in tuner %.2f s (next_batch %.2f s, update %.2f s)",
                    len(self.xs), self.task.name,
                    self.time_in_next_batch - start_next + self.time_in_update - start_update,
                    self.time_in_next_batch - start_next, self.time_in_update - start_update)

    def load_history(self, data_set, min_seed_records=500):
        """Resume from / warm-start with AutoTVM records.

        Records of this very task (same template, arguments and target) are rebound to the live task,
        never measured again, and seed both the cost model and the best-so-far; a config whose every
        record is an infrastructure failure (timeout, RPC/device error: ``records.RETRYABLE_ERRORS``) is
        measured again, before anything new. Records of other tasks
        of the same template pre-train a base cost model (AutoTVM's transfer learning), provided there
        are at least ``min_seed_records`` of them.
        """
        same, other = [], []
        for inp, res in data_set:
            if inp is None or res is None or inp.task.name != self.task.name:
                continue
            if self._is_this_task(inp):
                rebound = self._rebind(inp)
                if rebound is not None:
                    same.append((rebound, res))
            else:
                other.append((inp, res))
        same, retry = settled_records(same)
        if retry:
            logger.info("ARCO load_history: %d configs failed only with timeouts or RPC/device errors: they are "
                        "measured again first", len(retry))
            self._retry += [inp.config.index for inp, _ in retry if inp.config.index not in self._retry]
        fresh = {}
        for inp, res in same:
            index = inp.config.index
            value = throughput(self.task, res)
            if index not in self.search.measured and value >= fresh.get(index, (None, -1.0))[1]:
                fresh[index] = ((inp, res), value)
            if value > self.best_flops:
                self.best_flops, self.best_config, self.best_measure_pair = value, inp.config, (inp, res)
        if fresh:
            self._record(list(fresh), [value for _, value in fresh.values()])
        logger.info("ARCO load_history: %d records of this task resumed, %d of other %s tasks",
                    len(fresh), len(other), self.task.name)
        if other:
            base = self.cost_model.spawn_base_model()
            if base.fit_log(other, self.plan_size, min_seed_records):
                self.cost_model.load_basemodel(base)
                if not self._model_ready:  # the base model alone can guide the first proposals
                    self.cost_model.bst = base.bst
                    self._model_ready = True
            else:
                logger.info("ARCO load_history: fewer than %d usable records of other tasks, no warm start",
                            min_seed_records)

    # ---- internals ----------------------------------------------------------------------------
    def _is_this_task(self, inp):
        return tuple(inp.task.args) == tuple(self.task.args) and str(inp.target) == str(self.task.target)

    def _rebind(self, inp):
        """A decoded record's bare Task has no config space or flop: rebuild the input on the live task."""
        index = inp.config.index
        if not 0 <= index < self.space.range_length or not self.space.is_index_valid(index):
            logger.warning("ARCO load_history: skipping record with config index %s outside this task's space",
                           index)
            return None
        config = self.space.get(index)
        if config.to_json_dict()["entity"] != inp.config.to_json_dict()["entity"]:
            logger.warning("ARCO load_history: skipping record whose config %s does not match this task's "
                           "config %s at the same index", inp.config, config)
            return None
        return MeasureInput(self.task.target, self.task, config)

    def _record(self, indexes, values):
        self.xs.extend(indexes)
        self.ys.extend(values)
        self.search.observe(indexes, values)
        if max(self.ys) > 1e-6:  # XGBoostCostModel normalises by the best: it needs one success
            self._fill_knob_features(self.xs)
            worked = [y > 0 for y in self.ys]
            worked_xs = [x for x, ok in zip(self.xs, worked) if ok]
            worked_ys = [y for y, ok in zip(self.ys, worked) if ok]
            split = self.search.settings.separate_failures and 2 <= sum(worked) < len(worked)
            with _numpy_global_seed(self.seed + self._fits):
                if split:
                    self.cost_model.fit(worked_xs, worked_ys, self.plan_size)
                    self.validity_model.fit(self.xs, [float(ok) for ok in worked], self.plan_size)
                else:
                    self.cost_model.fit(self.xs, self.ys, self.plan_size)
            if self.spread_model is not None:
                self.spread_model.fit(self._knob_rows(worked_xs), worked_ys, self._fits)
            self._validity_ready = split
            self._fits += 1
            self._model_ready = True

    def _predict(self, indexes):
        """Expected throughput relative to the best measured: the cost model's prediction, times the chance
        the config works once some measurements failed."""
        indexes = [int(i) for i in indexes]
        self._fill_knob_features(indexes)
        expected = self.cost_model.predict(indexes)
        if self._validity_ready:
            expected = expected * np.clip(self.validity_model.predict(indexes), 0.0, 1.0)
        return expected

    def _spread(self, indexes):
        """How unsure the model is about each config, in the units of ``_predict`` (times the chance to work)."""
        indexes = [int(i) for i in indexes]
        spread = self.spread_model(self._knob_rows(indexes))
        if self._validity_ready:
            spread = spread * np.clip(self.validity_model.predict(indexes), 0.0, 1.0)
        return spread

    def _knob_rows(self, indexes):
        cache = self.cost_model.feature_cache.get("knob")
        for index in indexes:
            if index not in cache:
                cache[index] = self.space.get(index).get_flatten_feature()
        return np.array([cache[index] for index in indexes], dtype=np.float32)

    def _fill_knob_features(self, indexes):
        # Knob features are pure Python; computing them here avoids a process-pool round trip for each
        # of the thousands of configs the agents visit. Other feature types go through TVM's pool.
        if self.feature_type == "knob":
            self._knob_rows(indexes)
