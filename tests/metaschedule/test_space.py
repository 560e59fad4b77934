import itertools

import numpy as np
import pytest

from tvm_arco_plugin.metaschedule.space import (CATEGORICAL, PERFECT_TILE, TraceSpace, design_space_labels,
                                               design_space_of, factor_features, factor_moves,
                                               innermost_first_probabilities, structure_of,
                                               is_sampling, metaschedule_tile_draws, perfect_tilings)
from tvm_arco_plugin.metaschedule.workloads import workload
from tvm_arco_plugin.search.knobs import MAPPING, SCHEDULING

from helpers import tune_context


@pytest.mark.parametrize("extent,n,inner", [(24, 4, 8), (36, 3, 6), (12, 2, 0), (7, 3, 1)])
def test_perfect_tilings_match_brute_force(extent, n, inner):
    brute = sorted(t for t in itertools.product(range(1, extent + 1), repeat=n)
                   if int(np.prod(t)) == extent and (inner <= 0 or t[-1] <= inner))
    assert perfect_tilings(extent, n, inner) == brute


def test_perfect_tilings_of_a_power_of_two():
    # 2^7 into 4 factors: C(10, 3) = 120 ways to share the 7 twos; one has an innermost 128 > 64.
    assert len(perfect_tilings(128, 4, 64)) == 119


def test_factor_moves_move_one_prime_between_two_levels():
    tilings = perfect_tilings(56, 4, 16)  # 56 = 2^3 * 7: moves of 2 and of 7, 12 (from, to) pairs each
    table = factor_moves(tilings)
    assert table.shape == (len(tilings), 24)
    for k, tiling in enumerate(tilings):
        for reached in (tilings[j] for j in table[k] if j != k):
            changed = [level for level in range(4) if reached[level] != tiling[level]]
            assert len(changed) == 2 and reached[-1] <= 16
            ratio = reached[changed[0]] / tiling[changed[0]]
            assert ratio in (2, 7, 1 / 2, 1 / 7) and reached[changed[1]] / tiling[changed[1]] == 1 / ratio
    # From (1, 1, 56, 1): 2 moves to each other level, 7 as well, except into the innermost beyond 16.
    start = tilings.index((1, 1, 56, 1))
    assert {tilings[j] for j in table[start]} == {(1, 1, 56, 1), (2, 1, 28, 1), (1, 2, 28, 1), (1, 1, 28, 2),
                                                  (7, 1, 8, 1), (1, 7, 8, 1), (1, 1, 8, 7)}


def test_tile_moves_give_the_agents_factor_moves_on_tilings(matmul_128):
    moving = spaces_of(matmul_128, tile_moves="factor")[0][0]
    setting = spaces_of(matmul_128)[0][0]
    tiles = [position for position, kind in enumerate(moving.kinds) if kind == PERFECT_TILE]
    assert tiles and sorted(moving.layout.moves) == tiles and not setting.layout.moves
    for position in tiles:  # 128 = 2^7: one prime, (from, to) pairs of the instruction's levels
        levels = len(moving.domains[position][0])
        assert moving.layout.action_sizes[position] == levels * (levels - 1)
        assert setting.layout.action_sizes[position] == setting.layout.dims[position]
    with pytest.raises(ValueError, match="tile_moves"):
        spaces_of(matmul_128, tile_moves="swap")


def test_factor_features_show_each_level_and_change_where_a_move_does():
    tilings = perfect_tilings(56, 4, 16)
    features, table = factor_features(tilings), factor_moves(tilings)
    np.testing.assert_allclose(features[tilings.index((1, 1, 56, 1))], [0, 0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(features.sum(axis=1), 1.0, atol=1e-6)  # log 56 shared out by the levels
    start = tilings.index((2, 1, 28, 1))
    for reached in set(table[start]) - {start}:
        assert (np.abs(features[reached] - features[start]) > 1e-6).sum() == 2


def test_tile_observation_gives_the_agents_each_levels_factor(matmul_128):
    viewing = spaces_of(matmul_128, tile_observation="factors")[0][0]
    tiles = [position for position, kind in enumerate(viewing.kinds) if kind == PERFECT_TILE]
    assert tiles and sorted(viewing.layout.features) == tiles
    width = sum(len(viewing.domains[p][0]) for p in tiles) + len(viewing.kinds) - len(tiles)
    assert viewing.layout.observation_width == width
    assert not spaces_of(matmul_128)[0][0].layout.features
    with pytest.raises(ValueError, match="tile_observation"):
        spaces_of(matmul_128, tile_observation="levels")


def test_innermost_first_gives_every_innermost_factor_the_same_weight():
    tilings = perfect_tilings(64, 4, 16)
    probabilities = innermost_first_probabilities(tilings)
    by_innermost = {}
    for tiling, p in zip(tilings, probabilities):
        by_innermost[tiling[-1]] = by_innermost.get(tiling[-1], 0.0) + p
    assert sorted(by_innermost) == [1, 2, 4, 8, 16]
    assert np.allclose(list(by_innermost.values()), 0.2)
    # Within one innermost factor the outer tilings are equally likely: 28 with innermost 1.
    assert np.allclose(probabilities[[t[-1] == 1 for t in tilings]], 0.2 / 28)


def spaces_of(mod, seed=1, **space_options):
    context = tune_context(mod, seed=seed)
    design_spaces = context.generate_design_space()
    return [TraceSpace(context.mod, s, context.space_generator.postprocs, space_id=i, seed=seed, **space_options)
            for i, s in enumerate(design_spaces)], design_spaces


def test_matmul_decisions_become_knobs_of_the_two_software_agents(matmul_128):
    spaces, _ = spaces_of(matmul_128)
    assert len(spaces) >= 1
    space = spaces[0]
    assert space.kinds.count(PERFECT_TILE) == 3 and CATEGORICAL in space.kinds
    # 128 = 2^7 into 4 factors is C(10, 3) = 120 tilings, one of which has an innermost factor of 128 > 64.
    assert list(space.layout.dims[:2]) == [119, 119]
    assert set(space.layout.agents) == {MAPPING, SCHEDULING}
    assert all(knob.startswith(f"s{space.space_id}.") for knob in space.layout.names)


def test_design_space_trace_maps_to_a_config_whose_replay_has_its_decisions(matmul_128):
    spaces, design_spaces = spaces_of(matmul_128)
    for space, design in zip(spaces, design_spaces):
        index = space.index_of(design.trace)
        assert index is not None
        replayed = space.schedule(index)
        assert replayed is not None
        ours = [space.trace.decisions[i] for i in space.trace.insts if is_sampling(i)]
        theirs = [replayed.trace.decisions[i] for i in replayed.trace.insts if is_sampling(i)]
        assert [list(map(int, d)) if not isinstance(d, int) and hasattr(d, "__len__") else int(d) for d in ours] == \
               [list(map(int, d)) if not isinstance(d, int) and hasattr(d, "__len__") else int(d) for d in theirs]


def test_a_trace_maps_to_its_own_design_space_only(matmul_128):
    """The matmul's two spaces with an output cache write have the same sampling instructions and differ in
    the loop the write is computed at: a record of one is not a config of the other."""
    spaces, design_spaces = spaces_of(matmul_128)
    kinds = [tuple(space.kinds) for space in spaces]
    assert len(spaces) == 3 and len(set(kinds)) < len(kinds)  # what makes the sampling kinds alone ambiguous
    structures = [structure_of(design.trace) for design in design_spaces]
    labels = design_space_labels(structures)
    assert sum("cache_write" in label for label in labels) == 2 and len(set(labels)) == 3
    for space_id, (space, design) in enumerate(zip(spaces, design_spaces)):
        replayed = space.schedule(space.index_of(design.trace))
        for trace in (design.trace, replayed.trace, replayed.trace.simplified(remove_postproc=False)):
            assert design_space_of(trace, structures) == space_id
            assert [other.index_of(trace) is not None for other in spaces] == [s == space_id for s in range(3)]


def test_the_longest_matching_design_space_wins(matmul_128):
    """If one design space's instructions were a prefix of another's, a replay of the longer one matches
    both; it is the longer one's (resuming from a database relies on this, as the benchmark's labels do)."""
    _, design_spaces = spaces_of(matmul_128)
    longer = structure_of(design_spaces[0].trace)
    prefix = longer[: len(longer) // 2]
    assert design_space_of(design_spaces[0].trace, [prefix, longer]) == 1
    assert design_space_of(design_spaces[0].trace, [longer, prefix]) == 0
    assert design_space_of(None, [prefix, longer], structure=prefix) == 0
    assert design_space_of(None, [longer], structure=prefix) is None


def test_random_configs_round_trip_through_replay(matmul_128):
    spaces, _ = spaces_of(matmul_128)
    space = spaces[0]
    rng = np.random.default_rng(0)
    indexes = rng.integers(0, space.layout.range_length, size=40)
    replayed = 0
    for index in indexes.tolist():
        sch = space.schedule(index)
        if sch is not None:
            replayed += 1
            assert space.index_of(sch.trace) == index
    assert replayed >= 30  # perfect tilings of a static shape nearly always replay and pass the postprocessors


def test_conv2d_through_relax_has_a_large_space_with_compute_locations():
    spaces, _ = spaces_of(workload("resnet18_conv2d_14"))
    space = max(spaces, key=lambda s: s.layout.range_length)
    assert space.layout.range_length > 10**6  # far more than a round scores (2,048)
    assert any(kind not in (PERFECT_TILE, CATEGORICAL) for kind in space.kinds)  # e.g. SampleComputeLocation
    assert all(len(domain) >= 1 for domain in space.domains)
    ok = [space.schedule(int(i)) is not None
          for i in np.random.default_rng(1).integers(0, space.layout.range_length, size=10)]
    assert any(ok)


def test_a_records_trace_replays_as_evolutionary_search_replays_it_after_a_changed_compute_location():
    """EvolutionarySearch mutates the database's best records and replays them without their postprocessing
    (``remove_postproc=True``), which only drops what follows MetaSchedule's mark; unmarked, the postprocessors'
    instructions replayed with their recorded loop counts and failed."""
    from tvm.s_tir import Schedule

    spaces, _ = spaces_of(workload("resnet18_conv2d_14"))
    space = spaces[0]
    changed = 0
    for index in np.random.default_rng(1).integers(0, space.layout.range_length, size=6).tolist():
        sch = space.schedule(index)
        if sch is None:
            continue
        trace = sch.trace
        assert [inst.kind.name for inst in trace.insts].count("EnterPostproc") == 1
        for inst in [inst for inst in trace.insts if inst.kind.name == "SampleComputeLocation"]:
            for location in {-1, 0, 1} - {int(trace.decisions[inst])}:
                trace.with_decision(inst, location, remove_postproc=False).apply_to_schedule(
                    Schedule(space.mod), remove_postproc=True)
                changed += 1
    assert changed >= 10


def test_knob_prior_keeps_categorical_probabilities_and_weights_tilings(matmul_128):
    space = spaces_of(matmul_128)[0][0]
    innermost_first, uniform = ([w / w.sum() for w in space.knob_prior(tilings)] for tilings in ("innermost_first", "uniform"))
    for position, kind in enumerate(space.kinds):
        assert np.isclose(innermost_first[position].sum(), 1.0) and len(innermost_first[position]) == space.layout.dims[position]
        if kind == PERFECT_TILE:
            assert np.allclose(uniform[position], 1.0 / space.layout.dims[position])
            innermost = np.array([t[-1] for t in space.domains[position]])
            # 128 in 4 factors with innermost <= 64: 7 innermost factors, 1/7 each, not 36/119 for innermost 1.
            assert np.isclose(innermost_first[position][innermost == 1].sum(), 1 / 7)
        else:
            assert np.allclose(innermost_first[position], uniform[position])
    with pytest.raises(ValueError, match="innermost_first"):
        space.knob_prior("balanced")


def test_metaschedules_own_tile_sampling_is_uniform_over_the_allowed_tilings():
    # What knob_prior's default "uniform" stands for: SamplePerfectTile's draws spread over the
    # innermost factors as uniform tilings are (not innermost-first).
    draws = metaschedule_tile_draws(256, 4, 64, draws=4000)
    tilings = perfect_tilings(256, 4, 64)
    assert set(draws) <= set(tilings)
    for innermost in (1, 64):
        share = np.mean([d[-1] == innermost for d in draws])
        uniform = np.mean([t[-1] == innermost for t in tilings])  # 45 / 161 and 6 / 161
        assert abs(share - uniform) < 0.03, (innermost, share, uniform)
