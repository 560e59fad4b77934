"""Exploratory ARCO variants on recorded spaces (the experiments behind docs/design.md, "Cost model").

    OMP_NUM_THREADS=1 python benchmarks/arco_variants.py --variants default,itervar,rank,top_n,rank_selects \
        --budget 64 --seeds 10 benchmarks/spaces/resnet18_conv2d_7.log ...

Prints, per space and variant, the median number of trials to 95% of the space's optimum over the
seeds (a seed that never got there counts as budget + 1) and the sorted per-seed values. Variants:
``default`` (ARCOTuner as shipped), ``itervar`` (itervar features), ``rank`` (XGBoost rank loss),
``top_n`` (Confidence Sampling's threshold at 1: the n best predictions), ``rank_selects`` (a
rank-loss model picks the batch, the agents keep the regression model's rewards). None is a default.
"""
import argparse

import numpy as np
from tvm.autotvm.tuner.xgboost_cost_model import XGBoostCostModel

from tvm_arco_plugin import ARCOTuner, bench
from tvm_arco_plugin.search.confidence import confidence_sample
from tvm_arco_plugin.search.engine import ARCOSearch, SearchSettings
from tvm_arco_plugin.tuner import _numpy_global_seed


def with_rank_loss(task, seed, **kwargs):
    tuner = ARCOTuner(task, seed=seed, **kwargs)
    tuner.cost_model = XGBoostCostModel(task, feature_type=tuner.feature_type, loss_type="rank", log_interval=25)
    return tuner


class RankSelectsSearch(ARCOSearch):
    """ARCOSearch whose Confidence Sampling scores candidates with ``selector`` once it is set."""

    selector = None

    def propose(self, n, surrogate=None):
        n = min(n, self.n_unmeasured)
        if self.selector is None or surrogate is None or len(self.measured) < self.settings.init_trials or n <= 0:
            return super().propose(n, surrogate)
        if self.explorer is not None and (self._since_explore is None or len(self.pool) < n
                                          or self._since_explore >= self.settings.explore_every):
            self._explore(surrogate)
        candidates = np.array(sorted(self.pool | set(self.random_unmeasured(self.settings.random_pool))),
                              dtype=np.int64)
        picks = confidence_sample(np.asarray(self.selector(candidates), dtype=np.float64), n, self.rng,
                                  self.settings.cs_temperature, self.settings.cs_threshold)
        return [int(candidates[i]) for i in picks]


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


VARIANTS = {
    "default": lambda task, seed: ARCOTuner(task, seed=seed),
    "itervar": lambda task, seed: ARCOTuner(task, seed=seed, feature_type="itervar"),
    "rank": with_rank_loss,
    "top_n": lambda task, seed: ARCOTuner(task, seed=seed, settings=SearchSettings(cs_threshold=1.0)),
    "rank_selects": lambda task, seed: RankSelectsTuner(task, seed=seed),
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
    for path in args.logs:
        task, recorded, flops = bench.load_recorded_space(path)
        optimum = max(flops.values())
        for name in names:
            trials = []
            for seed in range(args.seeds):
                run = bench.replay_one(task, recorded, flops, name, args.budget, seed, 8)
                hit = bench.trials_to(run.best_curve(args.budget), 0.95 * optimum)
                trials.append(args.budget + 1 if hit is None else hit)
            print(f"{path.split('/')[-1]:32s} {name:13s} median trials to 95%: {np.median(trials):5.1f}  "
                  f"{sorted(trials)}", flush=True)


if __name__ == "__main__":
    main()
