"""How unsure the cost model is about a config: the spread of a small bootstrap ensemble.

The cost model gives one number per config and says nothing about where it has no data. On a space too
large to score whole, a search that only climbs that number can stay where the model first pointed: on
the simulated ``dense_pack`` space, the runs that ended far from the optimum had a model that rated every
good config below its round's best candidate for the whole run (docs/benchmarks.md). An optimistic score,
``expected + optimism * spread`` (upper confidence bound), sends some measurements where the model would
change its mind most.

``spread`` is the standard deviation of ``members`` XGBoost regressors, each fitted on a bootstrap
resample of the measured configs, with the parameters of TVM's ``XGBoostCostModel`` (regression loss),
targets relative to the best measured config, as that model's. Pure NumPy and xgboost: no TVM.
"""
import numpy as np

# TVM's XGBoostCostModel, loss_type="reg" (python/tvm/autotvm/tuner/xgboost_cost_model.py)
XGB_PARAMS = {"max_depth": 3, "gamma": 0.0001, "min_child_weight": 1, "subsample": 1.0, "eta": 0.3,
              "lambda": 1.0, "alpha": 0, "objective": "reg:squarederror", "verbosity": 0, "nthread": 1}


class BootstrapSpread:
    def __init__(self, members=5, rounds=50, seed=0):
        if members < 2:
            raise ValueError(f"a spread needs at least 2 members, not {members}")
        self.members, self.rounds, self.seed = int(members), int(rounds), int(seed)
        self.boosters = []

    @property
    def ready(self):
        return bool(self.boosters)

    def fit(self, features, targets, fit_number=0):
        """Refit every member on a bootstrap resample of (``features``, ``targets`` / max ``targets``).
        ``fit_number`` varies the resamples from one fit to the next, reproducibly."""
        import xgboost as xgb

        features = np.asarray(features, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.float64)
        if len(targets) < 2 or targets.max() <= 0:
            self.boosters = []
            return
        targets = targets / targets.max()
        rng = np.random.default_rng([self.seed, int(fit_number)])
        self.boosters = []
        for member in range(self.members):
            rows = rng.integers(0, len(targets), size=len(targets))
            data = xgb.DMatrix(features[rows], targets[rows])
            self.boosters.append(xgb.train({**XGB_PARAMS, "seed": member}, data, num_boost_round=self.rounds))

    def __call__(self, features):
        """Standard deviation of the members' predictions for each row of ``features`` (0 before a fit)."""
        import xgboost as xgb

        features = np.asarray(features, dtype=np.float32)
        if not self.boosters or not len(features):
            return np.zeros(len(features))
        data = xgb.DMatrix(features)
        return np.std([booster.predict(data) for booster in self.boosters], axis=0).astype(np.float64)
