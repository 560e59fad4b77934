"""The search engine on its own (no measurement), against real AutoTVM config spaces."""
import numpy as np
import pytest
from tvm import autotvm

from tvm_arco_plugin import host_target, templates
from tvm_arco_plugin.search.confidence import confidence_probabilities, confidence_sample
from tvm_arco_plugin.search.engine import ARCOSearch, SearchSettings, ValidityMask
from tvm_arco_plugin.search.knobs import HARDWARE, MAPPING, SCHEDULING, KnobLayout
from tvm_arco_plugin.search.marl import MultiAgentExplorer, PPOSettings


@pytest.fixture(scope="module")
def large_space():
    task = autotvm.task.create(templates.MATMUL_LARGE, args=(64, 64, 64, "float32"), target=host_target())
    return task.config_space


def test_layout_index_math_matches_autotvm(large_space):
    layout = KnobLayout.from_config_space(large_space)
    rng = np.random.default_rng(0)
    indexes = rng.integers(0, large_space.range_length, size=50)
    knobs = layout.to_knobs(indexes)
    for index, row in zip(indexes, knobs):
        assert list(row) == large_space.point2knob(int(index))
    assert np.array_equal(layout.to_index(knobs), indexes)
    assert layout.range_length == large_space.range_length


def test_default_assignment_on_own_template(large_space):
    layout = KnobLayout.from_config_space(large_space)
    assert layout.assignment[MAPPING] == ["tile_y", "tile_x", "tile_k"]
    assert layout.assignment[SCHEDULING] == ["auto_unroll_max_step", "k_inner_outside"]
    assert layout.assignment[HARDWARE] == []
    assert layout.agents == [SCHEDULING, MAPPING]


def test_explicit_assignment_and_errors(large_space):
    layout = KnobLayout.from_config_space(large_space, agent_knobs={HARDWARE: ["tile_k"]},
                                          hardware_knobs=["k_inner_outside"])
    assert layout.assignment[HARDWARE] == ["tile_k", "k_inner_outside"]
    assert sorted(sum(layout.assignment.values(), [])) == sorted(large_space.space_map)
    with pytest.raises(ValueError, match="not in this task"):
        KnobLayout.from_config_space(large_space, agent_knobs={MAPPING: ["nope"]})
    with pytest.raises(ValueError, match="unknown agent"):
        KnobLayout.from_config_space(large_space, agent_knobs={"memory": ["tile_k"]})


def test_confidence_sampling_soft_threshold():
    rng = np.random.default_rng(0)
    scores = np.array([0.1, 0.95, 1.0, 0.2, 0.9, 0.05])
    probs = confidence_probabilities(scores, temperature=1.0)
    assert probs.argmax() == 2 and np.isclose(probs.sum(), 1.0)
    picks = confidence_sample(scores, 3, rng, temperature=1.0, threshold=0.3)
    assert picks[0] == 2  # the best prediction is always measured
    assert set(picks) == {1, 2, 4}  # exactly the confident set (within T*std*ln(1/0.3) of the best)
    # A batch larger than the confident set is filled with the next best by score.
    assert confidence_sample(scores, 4, rng, 1.0, 0.3)[3] == 3
    assert sorted(confidence_sample(scores, 10, rng)) == list(range(6))


def test_explorer_learns_to_climb_a_surrogate(large_space):
    """On a known score function the agents' rewards must rise over rounds."""
    layout = KnobLayout.from_config_space(large_space)
    target = layout.to_knobs([large_space.range_length // 3])[0]

    def score(knobs):
        return 1.0 - np.abs(layout.normalise(knobs) - layout.normalise(target[None])).mean(axis=1)

    explorer = MultiAgentExplorer(layout, seed=0, settings=PPOSettings(walkers=32, horizon=16))
    rng = np.random.default_rng(1)
    mean_scores = []
    for _ in range(25):
        starts = layout.to_knobs(rng.integers(0, layout.range_length, 32))
        _, scores = explorer.explore(starts, score, lambda k: np.ones(len(k), bool))
        mean_scores.append(scores.mean())
    assert np.mean(mean_scores[-5:]) > np.mean(mean_scores[:5]) + 0.2  # measured: 0.53 -> 0.93


def test_search_never_repeats_and_exhausts_small_space():
    task = autotvm.task.create(templates.MATMUL, args=(32, 32, 32, "float32"), target=host_target())
    space = task.config_space
    search = ARCOSearch(KnobLayout.from_config_space(space), ValidityMask(space.range_length), seed=0,
                        settings=SearchSettings(init_trials=4))
    seen = []
    surrogate = lambda idx: -np.asarray(idx, dtype=float)  # noqa: E731
    while search.n_unmeasured:
        batch = search.propose(5, surrogate if seen else None)
        assert batch, "an empty proposal while configs remain would hang Tuner.tune"
        seen += batch
        search.observe(batch, [1.0] * len(batch))
    assert sorted(seen) == list(range(len(space)))
    assert search.propose(5, surrogate) == []


def test_validity_mask_is_respected():
    valid = np.zeros(100, dtype=bool)
    valid[::7] = True
    layout = KnobLayout.from_config_space(
        autotvm.task.create(templates.MATMUL, args=(32, 32, 32, "float32"), target=host_target()).config_space)
    search = ARCOSearch(layout, ValidityMask(layout.range_length, valid[: layout.range_length]), seed=0)
    picks = search.diverse_unmeasured(3) + search.random_unmeasured(10)
    assert all(valid[i] for i in picks)
