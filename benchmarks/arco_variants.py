"""Exploratory ARCO variants on recorded spaces (the experiments behind docs/design.md,
"What was tried to beat `xgb8`").

    OMP_NUM_THREADS=1 python benchmarks/arco_variants.py --variants default,t05,t20,top_n \
        --budget 64 --seeds 20 benchmarks/spaces/*.log

Prints, per space and variant, the median number of trials to 95% of the space's optimum over the
seeds (a seed that never got there counts as budget + 1) and the sorted per-seed values; at the
end, per variant, the geometric mean over the spaces of its median divided by ``default``'s (when
``default`` is among the variants). None of these variants is a default:

- ``default``: ARCOTuner as shipped;
- ``itervar``: itervar features instead of knob features;
- ``rank``: XGBoost's rank loss instead of regression;
- ``top_n``: Confidence Sampling's threshold at 1 (the n best predictions);
- ``t05`` / ``t20``: Confidence Sampling temperature 0.05 / 0.2 instead of 0.1;
- ``rank_selects``: a rank-loss model picks the batch, the agents keep the regression model's rewards;
- ``nearest``: the batch prefers candidates near the best measured configs (a locality term of
  0.3 x the score spread x the normalised knob distance to the nearest of the 3 best);
- ``one_per_leaf``: candidates with the same prediction (the same tree leaves) count once, the batch
  takes the n best such groups, one random member each;
- ``stall_explore``: after 2 batches without a new best, half of the next batch is random;
- ``derived_features``: knob features as log2 of every split factor (outer one included), plus the
  products of the inner and of the outer factors and of each pair of inner factors;
- ``depth6`` / ``depth2`` / ``eta01`` / ``lambda01``: the cost model's XGBoost trained with
  max_depth 6 / max_depth 2 / eta 0.1 / lambda 0.1 and min_child_weight 0.1 instead of TVM's
  max_depth 3, eta 0.3, lambda 1, min_child_weight 1;
- ``xgb8_knob``: not ARCO: XGBTuner(plan_size=8) with knob features, to separate what ``xgb8``
  owes to its itervar features from what it owes to its search.
"""
import argparse
import dataclasses

import numpy as np
from tvm import autotvm
from tvm.autotvm.task.space import SplitEntity
from tvm.autotvm.tuner.xgboost_cost_model import FeatureCache, XGBoostCostModel

from tvm_arco_plugin import ARCOTuner, bench
from tvm_arco_plugin.search.confidence import confidence_sample
from tvm_arco_plugin.search.engine import ARCOSearch, SearchSettings
from tvm_arco_plugin.tuner import _numpy_global_seed


def with_rank_loss(task, seed, **kwargs):
    tuner = ARCOTuner(task, seed=seed, **kwargs)
    tuner.cost_model = XGBoostCostModel(task, feature_type=tuner.feature_type, loss_type="rank", log_interval=25)
    return tuner


def with_xgb_params(**params):
    """ARCOTuner whose XGBoostCostModel trains with ``params`` instead of TVM's values."""
    def make(task, seed):
        tuner = ARCOTuner(task, seed=seed)
        tuner.cost_model.xgb_params.update(params)
        return tuner
    return make


def with_search(search_class):
    """ARCOTuner whose engine is ``search_class`` (an ARCOSearch subclass), with its own settings."""
    def make(task, seed):
        tuner = ARCOTuner(task, seed=seed)
        shipped = tuner.search
        tuner.search = search_class(shipped.layout, shipped.validity, seed=tuner.seed,
                                    settings=dataclasses.replace(shipped.settings))
        return tuner
    return make


class CandidateSearch(ARCOSearch):
    """ARCOSearch with the batch choice as a hook: ``select(candidates, scores, n)`` -> positions."""

    def propose(self, n, surrogate=None):
        n = min(n, self.n_unmeasured)
        if surrogate is None or len(self.measured) < self.settings.init_trials or n <= 0:
            return super().propose(n, surrogate)
        if self._exploration_due(n):
            self._explore(surrogate)
        candidates = self._candidates()
        picks = self.select(candidates, np.asarray(surrogate(candidates), dtype=np.float64), n)
        return [int(candidates[i]) for i in picks]

    def select(self, candidates, scores, n):
        return confidence_sample(scores, n, self.rng, self.settings.cs_temperature, self.settings.cs_threshold)


class RankSelectsSearch(CandidateSearch):
    selector = None  # set by RankSelectsTuner once its rank model has data

    def select(self, candidates, scores, n):
        return super().select(candidates, scores if self.selector is None else self.selector(candidates), n)


class RankSelectsTuner(ARCOTuner):
    def __init__(self, task, seed=0):
        super().__init__(task, seed=seed)
        self.search = RankSelectsSearch(self.layout, self.search.validity, seed=self.seed,
                                        settings=self.search.settings)
        self.rank_model = XGBoostCostModel(task, feature_type="knob", loss_type="rank", log_interval=25)
        self.rank_model.feature_cache = self.cost_model.feature_cache

    def _record(self, indexes, values):
        super()._record(indexes, values)
        if self._model_ready:
            with _numpy_global_seed(self.seed + 7919 + self._fits):
                self.rank_model.fit(self.xs, self.ys, self.plan_size)
            self.search.selector = self._rank_predict

    def _rank_predict(self, indexes):
        indexes = [int(i) for i in indexes]
        self._fill_knob_features(indexes)
        return self.rank_model.predict(indexes)


class NearestSearch(CandidateSearch):
    weight = 0.3
    n_best = 3

    def select(self, candidates, scores, n):
        best = self.layout.to_knobs(np.array(self.best_measured(self.n_best), dtype=np.int64)).astype(float)
        if len(best):
            knobs = self.layout.to_knobs(candidates).astype(float)
            scale = np.maximum(self.layout.dims - 1, 1) * len(self.layout.dims)
            distance = (np.abs(knobs[:, None, :] - best[None]) / scale).sum(-1).min(axis=1)
            scores = scores - self.weight * (scores.std() + 1e-12) * distance
        return super().select(candidates, scores, n)


class OnePerLeafSearch(CandidateSearch):
    def select(self, candidates, scores, n):
        shuffled = self.rng.permutation(len(scores))
        _, first = np.unique(np.round(scores[shuffled], 6), return_index=True)
        representatives = shuffled[first]
        picks = representatives[np.argsort(-scores[representatives], kind="stable")[:n]].tolist()
        if len(picks) < n:
            taken = set(picks)
            picks += [int(i) for i in np.argsort(-scores, kind="stable") if int(i) not in taken][: n - len(picks)]
        return picks


class StallExploreSearch(ARCOSearch):
    patience = 2
    share = 0.5

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.best_seen, self.batches_without_gain = 0.0, 0

    def observe(self, indexes, throughputs):
        super().observe(indexes, throughputs)
        top = max([0.0] + [float(v) for v in throughputs])
        self.best_seen, self.batches_without_gain = ((top, 0) if top > self.best_seen
                                                     else (self.best_seen, self.batches_without_gain + 1))

    def propose(self, n, surrogate=None):
        stalled = len(self.measured) >= self.settings.init_trials and self.batches_without_gain >= self.patience
        self.settings.exploration_share = self.share if stalled else 0.0
        return super().propose(n, surrogate)


def derived_knob_features(space, config):
    features, inner, outer = [], [], []
    for name, entity in config._entity_map.items():  # pylint: disable=protected-access
        if isinstance(entity, SplitEntity):
            sizes = list(entity.size)
            if -1 in sizes:
                known = int(np.prod([s for s in sizes if s != -1]))
                sizes[sizes.index(-1)] = space.space_map[name].product // max(known, 1)
            features += [np.log2(max(s, 1)) for s in sizes]
            inner.append(sizes[-1])
            outer.append(sizes[0])
        else:
            features += list(np.ravel(entity.get_flatten_feature() if hasattr(entity, "get_flatten_feature")
                                      else [entity.val]))
    if inner:
        features += [np.log2(np.prod(inner)), np.log2(np.prod(outer))]
        features += [np.log2(a * b) for i, a in enumerate(inner) for b in inner[i + 1:]]
    return np.array(features, dtype=np.float32)


class DerivedFeaturesTuner(ARCOTuner):
    def __init__(self, task, seed=0):
        super().__init__(task, seed=seed)
        self.own_cache = FeatureCache()

    def _fill_knob_features(self, indexes):
        # The replay hands every tuner one shared knob-feature cache; these features must not land in it.
        self.cost_model.feature_cache = self.own_cache
        features = self.own_cache.get("knob")
        for index in indexes:
            if index not in features:
                features[index] = derived_knob_features(self.space, self.space.get(index))


VARIANTS = {
    "default": lambda task, seed: ARCOTuner(task, seed=seed),
    "itervar": lambda task, seed: ARCOTuner(task, seed=seed, feature_type="itervar"),
    "rank": with_rank_loss,
    "top_n": lambda task, seed: ARCOTuner(task, seed=seed, settings=SearchSettings(cs_threshold=1.0)),
    "t05": lambda task, seed: ARCOTuner(task, seed=seed, settings=SearchSettings(cs_temperature=0.05)),
    "t20": lambda task, seed: ARCOTuner(task, seed=seed, settings=SearchSettings(cs_temperature=0.2)),
    "rank_selects": lambda task, seed: RankSelectsTuner(task, seed=seed),
    "nearest": with_search(NearestSearch),
    "one_per_leaf": with_search(OnePerLeafSearch),
    "stall_explore": with_search(StallExploreSearch),
    "derived_features": lambda task, seed: DerivedFeaturesTuner(task, seed=seed),
    "depth6": with_xgb_params(max_depth=6),
    "depth2": with_xgb_params(max_depth=2),
    "eta01": with_xgb_params(eta=0.1),
    "lambda01": with_xgb_params(**{"lambda": 0.1, "min_child_weight": 0.1}),
    "xgb8_knob": lambda task, seed: autotvm.tuner.XGBTuner(task, plan_size=8, feature_type="knob"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    names = args.variants.split(",")
    bench.TUNERS.update({name: VARIANTS[name] for name in names})
    medians = {name: [] for name in names}
    for path in args.logs:
        task, recorded, flops = bench.load_recorded_space(path)
        optimum = max(flops.values())
        for name in names:
            trials = []
            for seed in range(args.seeds):
                run = bench.replay_one(task, recorded, flops, name, args.budget, seed, 8)
                hit = bench.trials_to(run.best_curve(args.budget), 0.95 * optimum)
                trials.append(args.budget + 1 if hit is None else hit)
            medians[name].append(np.median(trials))
            print(f"{path.split('/')[-1]:32s} {name:16s} median trials to 95%: {np.median(trials):5.1f}  "
                  f"{sorted(trials)}", flush=True)
    if "default" in names:
        for name in names:
            ratio = np.exp(np.mean(np.log(np.array(medians[name]) / np.array(medians["default"]))))
            print(f"{name:16s} geometric mean of median trials to 95% over the spaces / default's: {ratio:.3f}")


if __name__ == "__main__":
    main()
