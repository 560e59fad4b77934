"""The search engine on its own (no measurement), against real AutoTVM config spaces."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from tvm import autotvm

from tvm_arco_plugin import host_target, templates
from tvm_arco_plugin.search.confidence import confidence_probabilities, confidence_sample
from tvm_arco_plugin.search.engine import GLOBAL_GROUP, ARCOSearch, SearchSettings, ValidityMask
from tvm_arco_plugin.search.knobs import HARDWARE, MAPPING, SCHEDULING, Knob, KnobLayout
from tvm_arco_plugin.search.marl import Adam, MultiAgentExplorer, PPOSettings


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


def climb(layout, settings, rounds=15):
    """Walks from random starts on a score that rises towards one config -> (each walk's entropy ratio, each
    walk's mean score of the configs it reached, the explorer)."""
    target = layout.to_knobs([layout.range_length // 3])[0]

    def score(knobs):
        return 1.0 - np.abs(layout.normalise(knobs) - layout.normalise(target[None])).mean(axis=1)

    explorer = MultiAgentExplorer(layout, seed=0, settings=settings)
    rng = np.random.default_rng(1)
    entropy, mean_scores = [], []
    for _ in range(rounds):
        starts = layout.to_knobs(rng.integers(0, layout.range_length, settings.walkers))
        walk = explorer.explore(starts, score, lambda k: np.ones(len(k), bool), lambda i: np.ones(len(i), bool),
                                budget=512)
        entropy.append(walk.entropy_ratio)
        mean_scores.append(walk.scores[~walk.from_start].mean())
    return np.array(entropy), np.array(mean_scores), explorer


def test_explorer_learns_to_climb_a_surrogate(large_space):
    """On a known score function the rewards the agents collect (scores of new configs) rise over rounds,
    and the policy grows more decisive than a uniform one."""
    entropy, mean_scores, _ = climb(KnobLayout.from_config_space(large_space), PPOSettings(walkers=32, horizon=16))
    assert np.mean(mean_scores[-4:]) > np.mean(mean_scores[:4]) + 0.05  # measured: 0.54 -> 0.65
    assert entropy[0] > 0.99 and entropy[-1] < 0.95  # measured: 0.93


def test_an_entropy_floor_stops_learning_and_a_target_raises_the_entropy_bonus(large_space):
    """Left alone, the climbing agents' policy narrows (the test above). With a floor, a walk whose entropy
    ratio is below it teaches nothing: the networks stay as they were. With a target, the entropy coefficient
    grows while the entropy is below it, and the policy ends broader than without."""
    layout = KnobLayout.from_config_space(large_space)
    plain, _, _ = climb(layout, PPOSettings(walkers=32, horizon=16))
    floored, _, explorer = climb(layout, PPOSettings(walkers=32, horizon=16, entropy_floor=0.97))
    assert floored[0] > 0.97 and floored[-1] < 0.97  # learning ran until the entropy fell below the floor ...
    weights = [p.detach().clone() for p in explorer.actors.parameters()]
    rng = np.random.default_rng(2)
    explorer.explore(layout.to_knobs(rng.integers(0, layout.range_length, 32)), lambda k: np.ones(len(k)),
                     lambda k: np.ones(len(k), bool), lambda i: np.ones(len(i), bool), budget=512)
    assert all(torch.equal(a, b) for a, b in zip(weights, explorer.actors.parameters()))  # ... then stopped
    assert floored[-1] > plain[-1]  # measured: 0.957 vs 0.934
    targeted, _, explorer = climb(layout, PPOSettings(walkers=32, horizon=16, entropy_target=0.97))
    assert explorer.ent_coef > PPOSettings().ent_coef  # measured: 0.192
    assert targeted[-1] > plain[-1] + 0.01  # measured: 0.976


def test_agents_that_learn_from_measurements_set_the_knob_value_that_measured_well(large_space):
    """With reward_source "measured" the cost model teaches nothing (here it rates every config alike); the
    moves that reached measured configs do. A config measures well when its first knob holds its last value:
    the learning agents reach such configs more and more often, model-taught or frozen agents do not."""
    layout = KnobLayout.from_config_space(large_space)
    value = layout.dims[0] - 1

    def share_with_value(settings, learning=True, rounds=15):
        explorer = MultiAgentExplorer(layout, seed=0, settings=settings, learning=learning)
        rng = np.random.default_rng(1)
        shares = []
        for _ in range(rounds):
            starts = layout.to_knobs(rng.integers(0, layout.range_length, settings.walkers))
            walk = explorer.explore(starts, lambda k: np.ones(len(k)), lambda k: np.ones(len(k), bool),
                                    lambda i: np.ones(len(i), bool), budget=512)
            reached = walk.knobs[~walk.from_start]
            shares.append(np.mean(reached[:, 0] == value))
            measured = reached[rng.choice(len(reached), size=16, replace=False)]
            explorer.remember_outcomes(layout.to_index(measured), (measured[:, 0] == value).astype(float))
        return np.array(shares), explorer

    measured, explorer = share_with_value(PPOSettings(walkers=32, horizon=16, reward_source="measured"))
    model, model_explorer = share_with_value(PPOSettings(walkers=32, horizon=16))
    frozen, _ = share_with_value(PPOSettings(walkers=32, horizon=16, reward_source="measured"), learning=False)
    random, _ = share_with_value(PPOSettings(walkers=32, horizon=16, reward_source="random"))
    assert len(explorer.measured_moves["reward"]) == 15 * 16 and not model_explorer.measured_moves["reward"]
    assert measured[-4:].mean() > measured[:4].mean() + 0.1  # measured: 0.14 -> 0.38
    # the others stay near 1 / 7: model-taught, frozen, and taught by random rewards for the same moves
    assert measured[-4:].mean() > max(model[-4:].mean(), frozen[-4:].mean(), random[-4:].mean()) + 0.1
    with pytest.raises(ValueError, match="reward_source"):
        PPOSettings(reward_source="measurements")


def test_the_agents_adam_steps_bit_for_bit_as_torchs_and_needs_no_dynamo():
    """``marl.Adam`` replaces ``torch.optim.Adam`` only to spare the ``torch._dynamo`` import; the
    parameters must stay exactly torch's, also for a parameter that misses a step's gradient."""

    def net():
        torch.manual_seed(3)
        return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    ours, theirs = net(), net()
    opt_ours = Adam(ours.parameters(), lr=1e-2, eps=1e-5)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2, eps=1e-5)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(4))
    for step in range(12):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            loss = (model(x) ** 2).mean() if step % 3 else model[0](x).pow(2).mean()  # head without grad
            loss.backward()
            opt.step()
    assert not all(torch.equal(a, b) for a, b in zip(ours.parameters(), net().parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))

    # A whole round of the explorer, in a fresh interpreter (this one may have imported dynamo).
    code = ("import sys, numpy as np\n"
            "from tvm_arco_plugin.search.knobs import Knob, KnobLayout\n"
            "from tvm_arco_plugin.search.marl import MultiAgentExplorer, PPOSettings\n"
            "layout = KnobLayout([Knob('a', 'SplitSpace', 12), Knob('b', 'OtherOptionSpace', 5)])\n"
            "e = MultiAgentExplorer(layout, seed=0, settings=PPOSettings(walkers=8, horizon=4))\n"
            "yes = lambda k: np.ones(len(k), bool)\n"
            "e.explore(np.zeros((8, 2), np.int64), lambda k: k[:, 0] / 12.0, yes, yes, budget=32)\n"
            "assert e.rounds == 1\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_agents_on_a_knob_with_moves_only_make_its_moves():
    """A knob with moves (a step up or down a ring of 40 values) is walked one move per step: in 3 steps
    from value 0 a walker stays within 3 of it; without moves its actions set any of the 40 values."""
    knobs = [Knob("ring", "SplitSpace", 40), Knob("other", "OtherOptionSpace", 5)]
    ring = np.arange(40)
    up_down = np.stack([(ring + 1) % 40, (ring - 1) % 40], axis=1)
    with_moves = KnobLayout(knobs, moves={0: up_down})
    assert with_moves.action_sizes.tolist() == [2, 5]
    assert with_moves.act_on(np.array([0, 0, 1]), np.array([0, 39, 3]), np.array([1, 0, 4])).tolist() == [39, 0, 4]

    def reached(layout):
        explorer = MultiAgentExplorer(layout, seed=0, settings=PPOSettings(walkers=16, horizon=3))
        starts = np.zeros((16, 2), dtype=np.int64)
        walk = explorer.explore(starts, lambda k: np.ones(len(k)), lambda k: np.ones(len(k), bool),
                                lambda i: np.ones(len(i), bool), budget=1000)
        return walk.knobs[:, 0]

    distance = np.minimum(reached(with_moves), 40 - reached(with_moves))
    assert distance.max() <= 3 and distance.max() >= 1
    assert np.minimum(reached(KnobLayout(knobs)), 40 - reached(KnobLayout(knobs))).max() > 3
    with pytest.raises(ValueError, match="moves of knob 0"):
        KnobLayout(knobs, moves={0: up_down[:10]})


def test_agents_see_a_knob_with_features_through_them():
    """A knob with features is observed as its value's feature row (here a point on a circle), any other
    knob as its scaled index; each agent's actor and the critic are sized to what they see."""
    knobs = [Knob("ring", "SplitSpace", 40), Knob("unroll", "OtherOptionSpace", 5)]
    angle = 2 * np.pi * np.arange(40) / 40
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    layout = KnobLayout(knobs, features={0: circle})
    assert layout.observation_width == 3
    assert layout.observation_columns[MAPPING].tolist() == [0, 1]
    assert layout.observation_columns[SCHEDULING].tolist() == [2]
    seen = layout.observe(np.array([[0, 4], [10, 2]]))
    np.testing.assert_allclose(seen, [[1, 0, 1], [0, 1, 0.5]], atol=1e-6)
    plain = KnobLayout(knobs)
    np.testing.assert_array_equal(plain.observe(np.array([[10, 2]])), plain.normalise(np.array([[10, 2]])))
    explorer = MultiAgentExplorer(layout, seed=0, settings=PPOSettings(walkers=4, horizon=2))
    assert explorer.actors[MAPPING].net[0].in_features == 2 + 2
    walk = explorer.explore(np.zeros((4, 2), dtype=np.int64), lambda k: np.ones(len(k)),
                            lambda k: np.ones(len(k), bool), lambda i: np.ones(len(i), bool), budget=100)
    assert len(walk.knobs) > 1
    with pytest.raises(ValueError, match="features of knob 0"):
        KnobLayout(knobs, features={0: circle[:10]})


# ---- a space too large to score whole: the agents must do the search -----------------------------
def peaked_surrogate(layout, sharpness=20.0, seed=123):
    """A known landscape on a real space: one peak at a random config, falling with the knob distance."""
    rng = np.random.default_rng(seed)
    peak = layout.normalise(np.array([[rng.integers(0, d) for d in layout.dims]]))

    def score(indexes):
        return np.exp(-sharpness * np.abs(layout.normalise(layout.to_knobs(indexes)) - peak).mean(axis=1))
    return score


@pytest.fixture(scope="module")
def joint_space_layout():
    """ResNet-18 c9 on the VTA-like accelerator: 663,552 configs, 13 knobs, all three agents."""
    from tvm_arco_plugin.codesign.accelerator import NETWORK_LAYERS
    from tvm_arco_plugin.codesign.template import create_task

    layer = next(layer for layer, _ in NETWORK_LAYERS["resnet18"]() if layer.name == "c9")
    return KnobLayout.from_config_space(create_task(layer).config_space)


def run_search(layout, settings, seed, rounds=8, surrogate=None):
    surrogate = surrogate or peaked_surrogate(layout)
    search = ARCOSearch(layout, ValidityMask(layout.range_length), seed=seed, settings=settings)
    for r in range(rounds):
        batch = search.propose(8, surrogate if r else None)
        search.observe(batch, surrogate(batch))
    return search


def test_on_a_large_space_the_agents_walks_supply_most_measured_configs(joint_space_layout):
    assert set(joint_space_layout.agents) == {HARDWARE, SCHEDULING, MAPPING}
    search = run_search(joint_space_layout, SearchSettings(), seed=0)
    assert search.share_from("walk") >= 0.7
    assert all(n <= SearchSettings().candidates_per_round for n in search.scored_per_round)
    ablation = run_search(joint_space_layout, SearchSettings(candidate_source="random"), seed=0)
    assert ablation.share_from("walk") == 0 and ablation.explorer is None
    # Same candidate budget: the random source scores as many configs per round as the agents may.
    assert ablation.scored_per_round == [SearchSettings().candidates_per_round] * len(ablation.scored_per_round)


def test_a_frozen_policy_finds_worse_candidates_than_a_learning_one(joint_space_layout):
    """Over fixed seeds, the learning agents' walks reach configs the surrogate rates higher than the
    walks of the same agents with their initial policy; only the learning policy grows decisive."""
    learnt, frozen = [], []
    for seed in range(2):
        for learning, out in ((True, learnt), (False, frozen)):
            search = run_search(joint_space_layout, SearchSettings(learning=learning), seed=seed)
            local = np.sort(search.candidate_scores[search.candidate_group == 0])[-64:]
            out.append((local.mean(), search.entropy_per_round[-1][1]))
    learnt, frozen = np.array(learnt), np.array(frozen)
    assert learnt[:, 0].mean() > 1.3 * frozen[:, 0].mean()  # measured: 0.36 vs 0.22
    assert (learnt[:, 1] < 0.9).all() and (frozen[:, 1] > 0.99).all()


def test_generations_climb_the_surrogate_within_one_round(joint_space_layout):
    """Split into generations, each starting from the best the round has scored so far, the local walks
    reach configs the surrogate rates higher in the round's first model-guided proposal than one
    generation does, with the same cost-model budget and no config scored twice."""
    layout, surrogate = joint_space_layout, peaked_surrogate(joint_space_layout)
    best = {1: [], 4: []}
    for seed in range(3):
        for generations in best:
            search = run_search(layout, SearchSettings(generations=generations), seed=seed, rounds=2,
                                surrogate=surrogate)
            assert search.scored_per_round[0] <= SearchSettings().candidates_per_round
            assert len(np.unique(search.candidates)) == len(search.candidates)
            best[generations].append(np.sort(search.candidate_scores)[-16:].mean())
    assert np.mean(best[4]) > 2 * np.mean(best[1])  # measured: 0.30 vs 0.09 (the mean of the 16 best scores)
    with pytest.raises(ValueError, match="generations"):
        SearchSettings(generations=0)


def test_global_horizon_zero_spends_the_global_share_on_independent_random_configs(joint_space_layout):
    """With ``global_horizon=0`` the round's global group is random configs that no walk reached (as many
    as the share's budget), and the local walks still come from the agents."""
    settings = SearchSettings(global_horizon=0)
    search = run_search(joint_space_layout, settings, seed=0, rounds=2)
    share = int((settings.candidates_per_round - settings.leader_proposals) * settings.global_share)
    global_found = search.candidates[search.candidate_group == GLOBAL_GROUP]
    assert share - 2 * 8 <= len(global_found) <= share  # less at most what the round then measured
    assert {search.source[int(i)] for i in global_found} == {"random"}
    assert "walk" in {search.source[int(i)] for i in search.candidates[search.candidate_group == 0]}
    walking = run_search(joint_space_layout, SearchSettings(), seed=0, rounds=2)
    assert "random" not in {walking.source[int(i)] for i in walking.candidates}


def test_the_global_shares_random_configs_compete_for_the_batch_only_when_asked(joint_space_layout):
    """By default the global share's random configs are their own candidate group, measured through its
    slots once the search stalls or through the next round's elite; with ``global_competes`` they are
    ranked with the walks' finds for every slot of the same round's batch."""
    def noise(indexes):  # a landscape without structure: random configs score as well as the walks' finds
        return np.modf(np.abs(np.sin(np.asarray(indexes, dtype=np.float64) * 12.9898)) * 43758.5453)[0]

    picked = {}
    for competes in (False, True):
        settings = SearchSettings(global_horizon=0, global_competes=competes)
        search = ARCOSearch(joint_space_layout, ValidityMask(joint_space_layout.range_length), seed=0,
                            settings=settings)
        initial = search.propose(8)
        search.observe(initial, noise(initial))
        picked[competes] = [search.source[i] for i in search.propose(32, noise)]
        assert (GLOBAL_GROUP in search.candidate_group) != competes
    assert "random" not in picked[False]
    assert picked[True].count("random") >= 8  # measured: 12 of 32; about half the candidates are random


def test_the_search_hands_its_measurements_to_agents_that_learn_from_them(joint_space_layout):
    search = run_search(joint_space_layout, SearchSettings(ppo=PPOSettings(reward_source="measured")), seed=0)
    rewards = search.explorer.measured_moves["reward"]
    walked = sum(source == "walk" for source in search.measured_source.values())
    assert 0 < len(rewards) <= walked and all(0 <= r <= 1 for r in rewards)  # relative to the best measured


def test_hardware_agent_learns_from_measured_rewards():
    """The hardware agent's own policy: rewarded for one hardware choice, it comes to prefer it; frozen,
    it stays uniform."""
    from tvm_arco_plugin.search.marl import HardwareLeader

    dims = [2, 3, 3, 4]
    good = np.array([1, 0, 2, 3])
    for learning in (True, False):
        leader = HardwareLeader(dims, seed=0, learning=learning)
        for _ in range(60):
            for choice in leader.sample(4):
                leader.learn(choice, float(np.mean(choice == good)))
        probs = leader.probabilities()
        if learning:
            assert [int(np.argmax(p)) for p in probs] == good.tolist() and leader.entropy_ratio() < 0.7
        else:
            assert leader.entropy_ratio() == pytest.approx(1.0)


def test_the_hardware_agent_can_learn_while_the_walks_stay_frozen(joint_space_layout):
    frozen = run_search(joint_space_layout, SearchSettings(learning=False), seed=0)
    mixed = run_search(joint_space_layout, SearchSettings(learning=False, hardware_learning=True), seed=0)
    assert frozen.leader.entropy_ratio() == pytest.approx(1.0) and not mixed.explorer.learning
    assert mixed.leader.entropy_ratio() < 1.0  # its measured proposals taught it
    assert all(p.grad is None for p in mixed.explorer.actors.parameters())  # the walks' policy never updated


def test_a_knob_value_that_never_worked_is_tried(joint_space_layout):
    """Coverage: while every measured config with some knob value failed, candidates with that value keep
    being measured (up to coverage_attempts times), though the model rates them low; without coverage
    they are not."""
    layout = joint_space_layout
    column = layout.names.index("tile_h")
    peak = peaked_surrogate(layout)

    def surrogate(indexes):  # configs with tile_h's last value fail, and the model rates them low
        indexes = np.asarray(indexes)
        return np.where(layout.to_knobs(indexes)[:, column] == layout.dims[column] - 1, 0.0, peak(indexes))

    def tried(settings):
        search = run_search(layout, settings, seed=0, rounds=8, surrogate=surrogate)
        after_init = [i for i, source in search.measured_source.items() if source != "init"]
        return sum(layout.to_knobs([i])[0, column] == layout.dims[column] - 1 for i in after_init), search

    with_coverage, search = tried(SearchSettings(stall_rounds=0))  # exploring from the first round
    without, _ = tried(SearchSettings(stall_rounds=0, coverage_slots=0))
    assert with_coverage >= 3 and without == 0
    assert search.coverage_tries[column][-1] >= 3


def test_optimism_measures_where_the_model_is_unsure(joint_space_layout):
    """With ``optimism`` > 0, configs the model is unsure about (a high ``spread``) are measured although
    their expected score is low; with optimism 0 a spread changes nothing."""
    layout = joint_space_layout
    column = layout.names.index("tile_h")
    peak = peaked_surrogate(layout)

    def unsure(indexes):  # the model knows nothing about tile_h's last value
        return (layout.to_knobs(np.asarray(indexes))[:, column] == layout.dims[column] - 1).astype(float)

    def run(settings, spread):
        search = ARCOSearch(layout, ValidityMask(layout.range_length), seed=0, settings=settings)
        picks = []
        for r in range(6):
            batch = search.propose(8, peak if r else None, spread if r else None)
            picks += batch if r else []
            search.observe(batch, peak(batch))
        return picks

    optimistic = run(SearchSettings(optimism=1.0), unsure)
    plain = run(SearchSettings(), None)
    assert unsure(optimistic).sum() >= 20 and unsure(plain).sum() <= 5  # of 40 model-guided picks
    assert run(SearchSettings(), unsure) == plain


def test_bootstrap_spread_is_low_where_measured_and_reproducible(large_space):
    from tvm_arco_plugin.search.uncertainty import BootstrapSpread

    rng = np.random.default_rng(0)
    measured = rng.choice(large_space.range_length, size=40, replace=False)
    unseen = rng.choice(np.setdiff1d(np.arange(large_space.range_length), measured), size=400, replace=False)

    def features(indexes):
        return np.array([large_space.get(int(i)).get_flatten_feature() for i in indexes])

    targets = features(measured) @ rng.random(features(measured).shape[1])  # a landscape over the knobs
    spread = BootstrapSpread(seed=3)
    assert not spread.ready and (spread(features(unseen)) == 0).all()
    spread.fit(features(measured), targets)
    at_measured, at_unseen = spread(features(measured)), spread(features(unseen))
    assert spread.ready and at_unseen.mean() > 1.2 * at_measured.mean()
    again = BootstrapSpread(seed=3)
    again.fit(features(measured), targets)
    np.testing.assert_array_equal(again(features(unseen)), at_unseen)
    again.fit(features(measured), targets, fit_number=1)  # the next refit resamples differently
    assert not np.array_equal(again(features(unseen)), at_unseen)
    with pytest.raises(ValueError, match="at least 2 members"):
        BootstrapSpread(members=1)


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


def test_random_configs_and_initial_design_follow_the_knob_prior(large_space):
    layout = KnobLayout.from_config_space(large_space)
    first = layout.dims[0]
    # The first knob's value 0 with probability 0.9, its others sharing the rest; the other knobs uniform.
    prior = [np.r_[0.9, np.full(first - 1, 0.1 / (first - 1))]] + [np.ones(d) for d in layout.dims[1:]]
    search = ARCOSearch(layout, ValidityMask(layout.range_length), seed=0, knob_prior=prior)
    share = lambda picks: np.mean(layout.to_knobs(picks)[:, 0] == 0)  # noqa: E731
    assert share(search.random_unmeasured(100)) > 0.8
    # The Latin hypercube stratifies the prior's quantiles: 90% of its strata fall on value 0.
    assert 0.85 <= share(search.diverse_unmeasured(40)) <= 0.95
    assert share(ARCOSearch(layout, ValidityMask(layout.range_length), seed=0).random_unmeasured(100)) < 0.3


def test_a_uniform_prior_draws_as_no_prior_and_a_wrong_one_is_refused(large_space):
    layout = KnobLayout.from_config_space(large_space)
    uniform = [np.full(d, 2.0) for d in layout.dims]
    with_prior = ARCOSearch(layout, ValidityMask(layout.range_length), seed=3, knob_prior=uniform)
    without = ARCOSearch(layout, ValidityMask(layout.range_length), seed=3)
    assert with_prior.diverse_unmeasured(8) == without.diverse_unmeasured(8)
    assert with_prior.random_unmeasured(20) == without.random_unmeasured(20)
    with pytest.raises(ValueError, match="one probability per value"):
        ARCOSearch(layout, ValidityMask(layout.range_length), knob_prior=uniform[1:])
