import itertools

import numpy as np
import pytest

from tvm_arco_plugin.metaschedule.space import CATEGORICAL, PERFECT_TILE, TraceSpace, perfect_tilings, is_sampling
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


def spaces_of(mod, seed=1):
    context = tune_context(mod, seed=seed)
    design_spaces = context.generate_design_space()
    return [TraceSpace(context.mod, s, context.space_generator.postprocs, space_id=i, seed=seed)
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
