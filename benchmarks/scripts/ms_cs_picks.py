"""How often Confidence Sampling picks other configs than the best-scored, per temperature: the strategy
driven step by step as in tests/metaschedule/test_strategy.py (the 128^3 matmul, pretend run times, no
building), with every call of ``confidence_sample`` compared with the n best-scored of its pool.

    .venv-ms/bin/python benchmarks/scripts/ms_cs_picks.py --temperatures 0.1,1.0,3.0

Prints, per temperature: calls, picks, and picks not among the n best-scored of their call.
"""
import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "metaschedule"))

import tvm_arco_plugin.search.engine as engine  # noqa: E402
from tvm_arco_plugin.metaschedule.strategy import default_settings  # noqa: E402
from tvm_arco_plugin.metaschedule.workloads import matmul  # noqa: E402
from tvm_arco_plugin.search.confidence import confidence_sample  # noqa: E402
from test_strategy import drive  # noqa: E402  (the tests' step-by-step driver and pretend run times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperatures", default="0.1,1.0,3.0")
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--per-iter", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    calls = []

    def compared(scores, n, rng, temperature=1.0, threshold=0.3):
        picks = confidence_sample(scores, n, rng, temperature, threshold)
        best_scored = set(np.argsort(-np.asarray(scores), kind="stable")[:n].tolist())
        calls.append((len(picks), len(set(picks) - best_scored)))
        return picks

    engine.confidence_sample = compared
    mod = matmul(128)
    for temperature in (float(t) for t in args.temperatures.split(",")):
        calls.clear()
        drive(mod, seed=args.seed, trials=args.trials, per_iter=args.per_iter,
              settings=default_settings(cs_temperature=temperature))
        print(f"temperature {temperature}: {len(calls)} calls, {sum(p for p, _ in calls)} picks, "
              f"{sum(o for _, o in calls)} not among the n best-scored of their call")


if __name__ == "__main__":
    main()
