"""The CHAMELEON baseline behaves as its published code does (docs/benchmarks.md, "CHAMELEON")."""
import numpy as np
import pytest
from tvm import autotvm

from tvm_arco_plugin import host_target, templates
from tvm_arco_plugin.chameleon import AdaptiveSampler, ChameleonOptimizer, ChameleonTuner
from tvm_arco_plugin.search.knobs import KnobLayout


@pytest.fixture(scope="module")
def large_task():
    return autotvm.task.create(templates.MATMUL_LARGE, args=(256, 256, 256, "float32"), target=host_target())


class KnownSurrogate:
    """A cost model with a known optimum: score falls with the distance to a target knob vector."""

    def __init__(self, layout, target):
        self.layout, self.target = layout, np.asarray(target)

    def predict(self, indexes):
        knobs = self.layout.to_knobs(indexes)
        return 1.0 - np.abs((knobs - self.target) / self.layout.dims).mean(axis=1)


def test_walk_moves_every_knob_by_at_most_one_and_stops_when_settled(large_task):
    optimizer = ChameleonOptimizer(large_task, n_iter=40, parallel_size=16, seed=0)
    for states, actions, logprob in optimizer.walk():
        assert len(states) == len(actions) + 1 == len(logprob) + 1
        assert len(actions) <= 40
        assert set(np.unique(actions)) <= {0, 1, 2}
        steps = np.diff(states, axis=0)
        assert np.all(np.abs(steps) <= 1)
        # A move is the action clamped to the knob's range.
        assert np.array_equal(states[1:], np.clip(states[:-1] + actions - 1, 0, optimizer.layout.dims - 1))
        if len(actions) < 40:  # ended early: at least 75% of knobs stayed or sit at a bound
            last = actions[-1]
            settled = (last == 1) | (states[-1] == 0) | (states[-1] == optimizer.layout.dims - 1)
            assert settled.sum() >= 0.75 * len(optimizer.layout.dims)


def test_ppo_learns_to_walk_towards_the_surrogate_optimum(large_task):
    optimizer = ChameleonOptimizer(large_task, n_iter=30, parallel_size=128, seed=0)
    surrogate = KnownSurrogate(optimizer.layout, optimizer.layout.dims - 1)

    def mean_gain_of_a_walk():
        walks = optimizer.walk()
        starts = optimizer.layout.to_index(np.array([states[0] for states, _, _ in walks]))
        ends = optimizer.layout.to_index(np.array([states[-1] for states, _, _ in walks]))
        return float(np.mean(surrogate.predict(ends) - surrogate.predict(starts)))

    before = mean_gain_of_a_walk()
    for _ in range(6):
        found = optimizer.find_maximums(surrogate, 16, exclusive=set())
    after = mean_gain_of_a_walk()
    # Untrained walks go nowhere on average; trained ones climb towards the optimum.
    assert after > 0.04 and after > before + 0.04, (before, after)
    assert len(found) == 16 and len(set(found)) == 16
    scores = surrogate.predict(found)
    assert np.all(np.diff(scores) <= 1e-12)  # best predicted first


def test_find_maximums_never_returns_visited(large_task):
    optimizer = ChameleonOptimizer(large_task, n_iter=20, parallel_size=32, seed=2)
    surrogate = KnownSurrogate(optimizer.layout, np.zeros(len(optimizer.layout.dims)))
    first = optimizer.find_maximums(surrogate, 8, exclusive=set())
    second = optimizer.find_maximums(surrogate, 8, exclusive=set(first))
    assert not set(first) & set(second)


def test_adaptive_sampler_finds_the_knee_and_synthesizes_new_configs(large_task):
    space = large_task.config_space
    layout = KnobLayout.from_config_space(space)
    sampler = AdaptiveSampler(space, plan_size=64, seed=0)
    cardinal = sorted(sampler.cardinal.tolist())
    assert cardinal == sorted(np.argsort(-layout.dims, kind="stable")[:2].tolist())
    rng = np.random.default_rng(0)
    # 64 candidates in 8 tight groups on the cardinal knobs: the knee is at k = 8.
    centres = np.array([[0, 0], [0, 8], [8, 0], [8, 8], [4, 4], [0, 4], [4, 0], [8, 4]])
    knobs = layout.to_knobs(rng.choice(space.range_length, 64, replace=False))
    knobs[:, sampler.cardinal] = np.repeat(centres, 8, axis=0)
    candidates = layout.to_index(knobs).tolist()
    visited = set(candidates[:5])
    chosen = sampler.sample(candidates, visited)
    assert len(chosen) == 8
    assert len(set(chosen)) == 8 and not set(chosen) & visited
    chosen_knobs = layout.to_knobs(chosen)
    assert sorted(map(tuple, chosen_knobs[:, sampler.cardinal])) == sorted(map(tuple, centres))
    # Every other knob takes a value that some candidate has.
    others = [c for c in range(len(layout.dims)) if c not in sampler.cardinal]
    for column in others:
        assert set(chosen_knobs[:, column]) <= set(knobs[:, column])


def test_adaptive_sampler_knee_follows_the_cluster_structure(large_task):
    space = large_task.config_space
    sampler = AdaptiveSampler(space, plan_size=64, seed=0)
    layout = sampler.layout
    rng = np.random.default_rng(3)
    knobs = layout.to_knobs(rng.choice(space.range_length, 64, replace=False))
    # 16 tight groups: going from 8 to 16 clusters cuts the loss far more than 2.5x, 16 -> 24 does not.
    knobs[:, sampler.cardinal] = np.repeat([(a, b) for a in (0, 2, 6, 8) for b in (0, 2, 6, 8)], 4, axis=0)
    assert len(sampler.sample(layout.to_index(knobs).tolist(), set())) == 16
    # Spread evenly: 8 -> 16 clusters only halves the loss, so the knee is at the first k.
    knobs[:, sampler.cardinal] = np.array([(a, b) for a in range(9) for b in range(9)])[:64]
    assert len(sampler.sample(layout.to_index(knobs).tolist(), set())) == 8


def test_tuner_is_random_first_then_refits_after_each_reduced_batch(recorded_matmul):
    task, option = recorded_matmul
    tuner = ChameleonTuner(task, plan_size=16, seed=0, n_iter=50, parallel_size=32)
    fits = []
    original_fit = tuner.cost_model.fit
    tuner.cost_model.fit = lambda xs, ys, plan: (fits.append(len(xs)), original_fit(xs, ys, plan))[1]
    tuner.tune(n_trial=48, measure_option=option)
    assert fits[0] == 16  # no model before plan_size random measurements
    assert tuner.sampled_batches and all(0 < n <= 16 for n in tuner.sampled_batches)
    # After the first fit, the next fit comes as soon as the reduced batch has been measured.
    for previous, (now, batch) in zip(fits, zip(fits[1:], tuner.sampled_batches)):
        assert now - previous <= max(batch, 4) + 3  # + measurements of the last tune() batch
    assert len(option["runner"].requests) == 48 == len(set(option["runner"].requests))


def test_tuner_is_deterministic(recorded_matmul):
    task, _ = recorded_matmul
    from tvm_arco_plugin.replay import replay_measure_option
    from conftest import MATMUL_128_LOG

    runs = []
    for _ in range(2):
        option = replay_measure_option(MATMUL_128_LOG, task, n_parallel=4)
        ChameleonTuner(task, plan_size=16, seed=3, n_iter=30, parallel_size=16).tune(n_trial=40, measure_option=option)
        runs.append(option["runner"].requests)
    assert runs[0] == runs[1]
