"""The VTA-like accelerator model (ZigZag) against VTA's published numbers, and co-design through AutoTVM."""
import json
import math

import pytest
from tvm import autotvm

from tvm_arco_plugin import ARCOTuner
from tvm_arco_plugin.codesign import (DEFAULT_VTA, ConvLayer, InvalidSchedule, ResourceBudget, VTAConfig,
                                      ZigZagEvaluator, create_task, default_schedule, zigzag_measure_option)
from tvm_arco_plugin.codesign.accelerator import NETWORK_LAYERS
from tvm_arco_plugin.codesign.network import main as codesign_main
from tvm_arco_plugin.codesign.template import decode
from tvm_arco_plugin.records import read_records

# TVM tutorial convolution_opt.py: 14x14, 256 -> 256, 3x3, pad 1, h_block 7, w_block 14,
# oc_block 128 (8 blocks of 16), ic_block 16 (1 block), 2 virtual threads on output channels.
TUTORIAL_LAYER = ConvLayer("tutorial", 1, 256, 14, 14, 256, 3, 3, 1, 1)
TUTORIAL_SCHEDULE = dict(tile_h=7, tile_w=14, tile_ci=1, tile_co=8, oc_nthread=2)


def config_of(hardware):
    """VTAConfig back from its ``as_dict()`` (as written to the co-design JSON)."""
    return VTAConfig(**{k.lower(): v for k, v in hardware.items() if k not in ("MACS", "BUFFER_BYTES")})


@pytest.fixture(scope="module")
def evaluator():
    return ZigZagEvaluator()


def test_tutorial_convolution_matches_vta_fsim_counters(evaluator):
    result = evaluator.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, **TUTORIAL_SCHEDULE)
    # Published fsim counters, reproduced exactly.
    assert result["dram_wgt_bytes"] == 1_179_648
    assert result["dram_out_bytes"] == 50_176
    assert result["gemm_cycles"] == 451_584
    # fsim loads 114,688 input bytes: 2 row tiles x 8 rows x 14 columns x 256 channels, once per
    # output-channel tile (2), padding rows inserted by the DMA on the fly. ZigZag counts the halo
    # row as loaded (9 rows, +12.5%) and, allocating greedily, keeps the input tile across the two
    # output-channel tiles instead of reloading it (/2): 114,688 x 9/8 / 2 = 64,512.
    assert result["dram_inp_bytes"] == 114_688 * 9 // 8 // 2 == 64_512
    # The tutorial's ALU work: 3 ops (shift, clip max, clip min) per output vector at II = 2.
    assert result["alu_cycles"] == 3 * 2 * (256 // 16) * 14 * 14


def test_resnet18_on_default_vta_lands_in_the_derived_band(evaluator):
    total, gemm = 0.0, 0.0
    for layer, count in NETWORK_LAYERS["resnet18"]():
        result = evaluator.evaluate(DEFAULT_VTA, layer, **default_schedule(layer, DEFAULT_VTA))
        total += count * result["cycles"]
        gemm += count * result["gemm_cycles"]
    # VTA's deploy_classification tutorial (fsim): gemm_counter 6,623,232 for ResNet-18's VTA part.
    assert gemm == 6_623_232
    # Derived, not published (docs/codesign.md): between the GEMM bound and pipelined tsim's 7.73M cycles.
    assert 6.6e6 <= total <= 7.73e6


def test_model_responds_to_hardware_and_schedule(evaluator):
    base = evaluator.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, **TUTORIAL_SCHEDULE)["cycles"]
    half_array = VTAConfig(block_in=8, block_out=16)
    slower = evaluator.evaluate(half_array, TUTORIAL_LAYER, tile_h=7, tile_w=14, tile_ci=1, tile_co=8,
                                oc_nthread=2)["cycles"]
    assert slower > 1.8 * base
    no_threads = evaluator.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, tile_h=7, tile_w=14, tile_ci=1, tile_co=8)
    assert no_threads["cycles"] > base  # without virtual threads, load and compute do not overlap
    # Batch 2 on a batch-1 network idles half the MACs.
    batch2 = VTAConfig(batch=2, block_in=16, block_out=8)
    assert evaluator.evaluate(batch2, TUTORIAL_LAYER, tile_h=7, tile_w=14, tile_co=8)["gemm_cycles"] == 2 * 451_584


def test_invalid_schedules_are_refused_with_reasons(evaluator):
    with pytest.raises(InvalidSchedule, match="does not divide"):
        evaluator.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, tile_h=5)
    with pytest.raises(InvalidSchedule, match="input buffer"):
        evaluator.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, tile_h=14, tile_w=14, tile_ci=16)
    assert ResourceBudget().violation(VTAConfig(block_in=32, block_out=16)) is not None
    assert ResourceBudget().violation(VTAConfig(inp_buf=128 * 1024)) is not None
    assert ResourceBudget().violation(DEFAULT_VTA) is None


def test_results_are_cached(tmp_path):
    cache = tmp_path / "zz.yaml"
    first = ZigZagEvaluator(str(cache))
    a = first.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, **TUTORIAL_SCHEDULE)
    first.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, **TUTORIAL_SCHEDULE)
    assert first.zigzag_calls == 1
    first.save()
    second = ZigZagEvaluator(str(cache))
    assert second.evaluate(DEFAULT_VTA, TUTORIAL_LAYER, **TUTORIAL_SCHEDULE) == a
    assert second.zigzag_calls == 0


def test_every_autotvm_tuner_runs_on_the_joint_space_and_logs_are_standard(tmp_path):
    task = create_task(TUTORIAL_LAYER)
    assert [k for k in task.config_space.space_map if k.startswith("hw_")] == [
        "hw_batch", "hw_block_in", "hw_block_out", "hw_inp_kib", "hw_wgt_kib", "hw_acc_kib"]
    log = tmp_path / "vta.log"
    option = zigzag_measure_option()
    tuner = ARCOTuner(task, seed=0)
    assert tuner.layout.assignment["hardware"][0] == "hw_batch"
    tuner.tune(n_trial=48, measure_option=option, callbacks=[autotvm.callback.log_to_file(str(log))])
    records = list(read_records(str(log)))
    assert len(records) == 48
    errors = [res for _, res in records if res.error_no != 0]
    valid = [(inp, res) for inp, res in records if res.error_no == 0]
    assert errors and valid  # the joint space has both; errors are results, not crashes
    best_inp, best_res = min(valid, key=lambda r: r[1].costs[0])
    hw, _ = decode(best_inp.config)
    assert ResourceBudget().violation(hw) is None
    with autotvm.apply_history_best(str(log)) as context:
        assert context.query(task.target, task.workload).index == best_inp.config.index
    random_tuner = autotvm.tuner.RandomTuner(task)
    random_tuner.tune(n_trial=16, measure_option=zigzag_measure_option())
    assert random_tuner.best_flops >= 0


def test_pinned_hardware_leaves_only_software_knobs():
    task = create_task(TUTORIAL_LAYER, VTAConfig(block_in=8, block_out=32))
    hw_knobs = {k: v for k, v in task.config_space.space_map.items() if k.startswith("hw_")}
    assert all(len(v) == 1 for v in hw_knobs.values())
    assert decode(task.config_space.get(0))[0] == VTAConfig(block_in=8, block_out=32)


@pytest.mark.slow
def test_network_codesign_command(tmp_path):
    out = tmp_path / "cd.json"
    assert codesign_main(["--network", "resnet18", "--budget", "120", "--seed", "0", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    for key in ("network", "budget", "seed", "hardware", "throughput", "evaluations", "seconds"):
        assert key in data
    assert set(data["throughput"]) == {"arco", "autotvm_default_hw", "hw_sweep_then_autotvm"}
    for method, evaluations in data["evaluations"].items():
        assert 0 < evaluations <= 120, method
        assert data["throughput"][method] > 0, method
    hw = config_of(data["hardware"])
    assert ResourceBudget().violation(hw) is None
    # Throughput is 1 / modelled network latency: at most the GEMM bound of a 256-MAC array at 100 MHz.
    bound = 256 * 100e6 / sum(l.macs * c for l, c in NETWORK_LAYERS["resnet18"]())
    assert all(t <= bound * 1.0001 for t in data["throughput"].values())
    assert not math.isnan(data["seconds"]["arco"])


def test_single_layer_benchmark_runs_arco_and_its_ablation_on_the_joint_space(tmp_path):
    from tvm_arco_plugin.codesign.single_layer import main as single_layer_main

    optima = tmp_path / "optima.json"  # a sub-space optimum as the committed file records it
    optima.write_text(json.dumps({"resnet18:c9": {"best_seconds": 2.31638e-3, "layer": "c9"}}))
    out = tmp_path / "zz.json"
    assert single_layer_main(["--layers", "c9", "--tuners", "arco,arco_noagents", "--budget", "24",
                              "--seeds", "1", "--first-seed", "3", "--optima", str(optima), "--out", str(out)]) == 0
    task = json.loads(out.read_text())["tasks"][0]
    assert task["space_size"] == 663552 and task["first_seed"] == 3
    arco, noagents = task["tuners"]["arco"], task["tuners"]["arco_noagents"]
    # 24 evaluations of the joint space: some valid configs found, the agents' share is recorded.
    assert arco["best_gflops"][0] > 0 and noagents["best_gflops"][0] > 0
    assert 0.0 <= arco["walk_share"][0] <= 1.0 and noagents["walk_share"][0] == 0.0
    assert task["optimum_gflops"] == pytest.approx(create_task_flop_c9() / 2.31638e-3 / 1e9)


def create_task_flop_c9():
    from tvm_arco_plugin.codesign.template import create_task

    return create_task(next(l for l, _ in NETWORK_LAYERS["resnet18"]() if l.name == "c9")).flop


@pytest.mark.parametrize("args, message", [
    (["--budget", "4"], "--budget must be at least 20 for resnet18"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--out", "/proc/nope/cd.json"], "--out /proc/nope/cd.json: cannot write there"),
])
def test_codesign_refuses_bad_input_in_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        codesign_main(["--network", "resnet18", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["--first-seed", "-1"], ["--seeds", "0"]])
def test_single_layer_refuses_bad_seeds_in_one_line(capsys, args):
    from tvm_arco_plugin.codesign.single_layer import main as single_layer_main

    with pytest.raises(SystemExit) as stop:
        single_layer_main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds must be at least 1 and --first-seed at least 0" in err and len(err.strip().splitlines()) == 1


def test_codesign_at_the_smallest_budget_stays_within_it(tmp_path):
    out = tmp_path / "cd.json"
    assert codesign_main(["--network", "resnet18", "--budget", "20", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    for method in ("arco", "autotvm_default_hw", "hw_sweep_then_autotvm"):
        assert data["evaluations"][method] <= 20, method
        assert data["throughput"][method] > 0, method  # at least VTA's default with its hand schedules
