"""(hardware, layer, schedule) -> cycles and DRAM bytes, with ZigZag (zigzag-dse 3.9.1) as the model.

The VTA-like accelerator in ZigZag's terms: a 3-D MAC array [BLOCK_OUT, BLOCK_IN, BATCH] unrolling
K / C / B; three single-operand SRAMs (acc for outputs, inp, wgt) under one DRAM whose single
read/write port is the bus. The schedule (VTA's conv2d template knobs) becomes a complete ZigZag
``temporal_ordering``, so ZigZag evaluates exactly that loop nest and searches nothing.

Add-on terms ZigZag does not model (docs/codesign.md, "What the model leaves out"):

* no load/compute overlap without virtual threads: VTA overlaps load and compute only when the
  schedule has two virtual threads (``oc_nthread`` or ``h_nthread`` = 2); with one, the cycles ZigZag
  spends moving data to and from DRAM are added to the compute cycles instead of being hidden;
* ALU epilogue: the tensor ALU has an initiation interval of 2, and each output vector of a conv
  goes through ``ALU_OPS_PER_OUTPUT`` ops (shift, clip max, clip min: the tutorial's 3) ->
  3 x 2 x output vectors cycles, serial with the GEMM of the same tile.
* Not modelled at all: micro-op and instruction overhead, the old planner's h_f/w_f > 2 rule.
"""
import functools
import json
import logging
import math
import os
import tempfile

import yaml

from .accelerator import ConvLayer, VTAConfig

ALU_OPS_PER_OUTPUT = 3
ALU_INITIATION_INTERVAL = 2

logger = logging.getLogger("tvm_arco_plugin.codesign")


class InvalidSchedule(ValueError):
    """A (hardware, layer, schedule) combination the accelerator cannot run."""


def _sram(name, operand, size_bytes, read_bits, write_bits, bus_bits):
    if operand == "O":
        ports = [{"name": "r_port_1", "type": "read", "bandwidth_min": read_bits, "bandwidth_max": read_bits,
                  "allocation": ["O, tl", "O, th"]},
                 {"name": "w_port_1", "type": "write", "bandwidth_min": write_bits, "bandwidth_max": write_bits,
                  "allocation": ["O, fh", "O, fl"]}]
    else:
        ports = [{"name": "r_port_1", "type": "read", "bandwidth_min": read_bits, "bandwidth_max": read_bits,
                  "allocation": [f"{operand}, tl"]},
                 {"name": "w_port_1", "type": "write", "bandwidth_min": bus_bits, "bandwidth_max": bus_bits,
                  "allocation": [f"{operand}, fh"]}]
    return name, {"size": size_bytes * 8, "r_cost": 1.0, "w_cost": 1.0, "area": 0, "latency": 1,
                  "operands": [operand], "ports": ports, "served_dimensions": ["D1", "D2", "D3"]}


def hardware_yaml(hw: VTAConfig, capacity_scale=1.0):
    """ZigZag accelerator description (memories innermost first: ZigZag reads the order as the hierarchy)."""
    bus = hw.bus_bits
    memories = dict([
        _sram("acc_buf", "O", int(hw.acc_buf * capacity_scale), hw.batch * hw.block_out * 32,
              hw.batch * hw.block_out * 32, bus),
        _sram("inp_buf", "I1", int(hw.inp_buf * capacity_scale), hw.batch * hw.block_in * 8, 0, bus),
        _sram("wgt_buf", "I2", hw.wgt_buf, hw.block_in * hw.block_out * 8, 0, bus),
    ])
    memories["dram"] = {
        "size": 2 ** 40, "r_cost": 100.0, "w_cost": 100.0, "area": 0, "latency": 1, "operands": ["I1", "I2", "O"],
        "ports": [{"name": "rw_port_1", "type": "read_write", "bandwidth_min": bus, "bandwidth_max": bus,
                   "allocation": ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]}],
        "served_dimensions": ["D1", "D2", "D3"]}
    return {"name": "vta_like", "memories": memories,
            "operational_array": {"input_precision": [8, 8], "unit_energy": 1.0, "unit_area": 1,
                                  "dimensions": ["D1", "D2", "D3"],
                                  "sizes": [hw.block_out, hw.block_in, hw.batch]}}


def workload_yaml(layer: ConvLayer, hw: VTAConfig):
    # Channels and batch padded up to whole blocks: VTA computes the padding too.
    batch = math.ceil(layer.n / hw.batch) * hw.batch
    c = math.ceil(layer.c / hw.block_in) * hw.block_in
    k = math.ceil(layer.k / hw.block_out) * hw.block_out
    s = layer.stride
    return [{"id": 0, "operator_type": "Conv", "name": layer.name,
             "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
             "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
             "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
             "loop_sizes": [batch, k, c, layer.oh, layer.ow, layer.r, layer.s],
             "operand_precision": {"I": 8, "W": 8, "O": 32, "O_final": 8},
             "operand_source": {"I": 0, "W": 0},
             "pr_loop_dims": ["IX", "IY"],
             "padding": [[layer.pad, layer.pad], [layer.pad, layer.pad]]}]


@functools.lru_cache(maxsize=None)
def schedule_loops(layer: ConvLayer, hw: VTAConfig, tile_b, tile_h, tile_w, tile_ci, tile_co):
    """VTA conv2d template loop nest as a ZigZag temporal ordering, innermost first.

    ``tile_h``/``tile_w`` are the inner (per-tile) output rows/columns, ``tile_ci``/``tile_co`` the
    inner channel blocks; the template's reorder (vta_conv2d.py) gives, innermost first,
    h_in, co_in, kh, kw, w_in, ci_in | ci_out, b_in, w_out, co_out, h_out, b_out.
    """
    batch_blocks = math.ceil(layer.n / hw.batch)
    ci_blocks = math.ceil(layer.c / hw.block_in)
    co_blocks = math.ceil(layer.k / hw.block_out)
    for name, inner, total in (("tile_b", tile_b, batch_blocks), ("tile_h", tile_h, layer.oh),
                               ("tile_w", tile_w, layer.ow), ("tile_ci", tile_ci, ci_blocks),
                               ("tile_co", tile_co, co_blocks)):
        if inner < 1 or total % inner:
            raise InvalidSchedule(f"{name}={inner} does not divide {total} (of layer {layer.name} on "
                                  f"{hw.batch}x{hw.block_in}x{hw.block_out})")
    loops = [("OY", tile_h), ("K", tile_co), ("FY", layer.r), ("FX", layer.s), ("OX", tile_w), ("C", tile_ci),
             ("C", ci_blocks // tile_ci), ("B", tile_b), ("OX", layer.ow // tile_w), ("K", co_blocks // tile_co),
             ("OY", layer.oh // tile_h), ("B", batch_blocks // tile_b)]
    return tuple((dim, size) for dim, size in loops if size > 1)


def tile_bytes(layer: ConvLayer, hw: VTAConfig, tile_b, tile_h, tile_w, tile_ci, tile_co):
    """Bytes of one tile of each operand, as VTA's planner checks them against the buffers."""
    in_h = (tile_h - 1) * layer.stride + layer.r
    in_w = (tile_w - 1) * layer.stride + layer.s
    inp = tile_b * hw.batch * tile_ci * hw.block_in * in_h * in_w
    wgt = tile_co * hw.block_out * tile_ci * hw.block_in * layer.r * layer.s
    acc = tile_b * hw.batch * tile_co * hw.block_out * tile_h * tile_w * 4
    return inp, wgt, acc


class ZigZagEvaluator:
    """Evaluates schedules with ZigZag; results are cached in memory and, optionally, in a JSON file."""

    def __init__(self, cache_path=None):
        self.cache = {}
        self.cache_path = cache_path
        self.zigzag_calls = 0
        if cache_path and os.path.exists(cache_path):
            with open(cache_path, encoding="utf-8") as handle:
                self.cache = json.load(handle)

    def save(self):
        if self.cache_path:
            with open(self.cache_path, "w", encoding="utf-8") as handle:
                json.dump(self.cache, handle)

    def evaluate(self, hw: VTAConfig, layer: ConvLayer, tile_b=1, tile_h=1, tile_w=1, tile_ci=1, tile_co=1,
                 oc_nthread=1, h_nthread=1):
        """-> dict(cycles, gemm_cycles, dram bytes per operand, ...); raises InvalidSchedule."""
        loops = schedule_loops(layer, hw, tile_b, tile_h, tile_w, tile_ci, tile_co)
        threads = oc_nthread * h_nthread
        if oc_nthread == 2 and (layer.k // hw.block_out) // tile_co < 2 or h_nthread == 2 and layer.oh // tile_h < 2:
            raise InvalidSchedule("a virtual thread needs at least two outer tiles to split")
        inp, wgt, acc = tile_bytes(layer, hw, tile_b, tile_h, tile_w, tile_ci, tile_co)
        # Virtual threads keep one tile per context in the input and accumulator buffers.
        for what, need, have in (("input", inp * threads, hw.inp_buf), ("weight", wgt, hw.wgt_buf),
                                 ("accumulator", acc * threads, hw.acc_buf)):
            if need > have:
                raise InvalidSchedule(f"{what} tile needs {need} B ({threads} thread(s)) but the {what} buffer "
                                      f"holds {have} B")
        key = json.dumps([hw.batch, hw.block_in, hw.block_out, hw.inp_buf, hw.wgt_buf, hw.acc_buf, hw.bus_bits,
                          layer.args(), loops])
        if key not in self.cache:
            self.cache[key] = self._run_zigzag(hw, layer, loops)
        base = self.cache[key]
        return self._with_add_ons(dict(base), hw, layer, overlap=threads > 1)

    def _run_zigzag(self, hw, layer, loops):
        from zigzag.api import get_hardware_performance_zigzag  # slow import (~2 s): only when needed

        self.zigzag_calls += 1
        mapping = [{"name": "default",
                    "spatial_mapping": {"D1": [f"K, {hw.block_out}"], "D2": [f"C, {hw.block_in}"],
                                        "D3": [f"B, {hw.batch}"]},
                    "temporal_ordering": [[dim, size] for dim, size in loops],
                    "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
        with tempfile.TemporaryDirectory(prefix="arco_zigzag_") as tmp:
            hw_path, map_path = os.path.join(tmp, "hw.yaml"), os.path.join(tmp, "map.yaml")
            with open(hw_path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(hardware_yaml(hw), handle, sort_keys=False)  # sorted keys would reorder memories
            with open(map_path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(mapping, handle, sort_keys=False)
            # ZigZag calls logging.basicConfig(INFO) and logs every stage; keep the user's logging as it was.
            root, quiet = logging.getLogger(), logging.NullHandler()
            root.addHandler(quiet)
            zigzag_logger = logging.getLogger("zigzag")
            previous = zigzag_logger.level
            zigzag_logger.setLevel(logging.WARNING)
            try:
                _, _, cmes = get_hardware_performance_zigzag(
                    workload_yaml(layer, hw), hw_path, map_path, opt="latency", dump_folder=tmp,
                    loma_show_progress_bar=False)
            except Exception as err:  # pylint: disable=broad-except
                raise InvalidSchedule(f"ZigZag rejected the mapping: {type(err).__name__}: {err}") from err
            finally:
                zigzag_logger.setLevel(previous)
                root.removeHandler(quiet)
        cme = cmes[0][0]
        dram = {name: _dram_bytes(cme, operand, hw.bus_bits) for operand, name in (("I", "inp"), ("W", "wgt"),
                                                                                    ("O", "out"))}
        return {"zigzag_latency": float(cme.latency_total2), "ideal_cycles": float(cme.ideal_temporal_cycle),
                "onloading": float(cme.data_onloading_cycle), "offloading": float(cme.data_offloading_cycle),
                "dram_inp_bytes": dram["inp"], "dram_wgt_bytes": dram["wgt"], "dram_out_bytes": dram["out"]}

    @staticmethod
    def _with_add_ons(result, hw, layer, overlap):
        dram_bytes = result["dram_inp_bytes"] + result["dram_wgt_bytes"] + result["dram_out_bytes"]
        transfer = dram_bytes * 8 / hw.bus_bits
        cycles = result["zigzag_latency"]
        if not overlap:
            # ZigZag hides transfers behind compute where bandwidth allows; VTA without virtual threads
            # cannot, so the part ZigZag hid is paid serially.
            cycles = max(cycles, result["ideal_cycles"] + transfer)
        output_vectors = math.ceil(layer.n / hw.batch) * math.ceil(layer.k / hw.block_out) * layer.oh * layer.ow
        alu = ALU_OPS_PER_OUTPUT * ALU_INITIATION_INTERVAL * output_vectors
        result.update(cycles=cycles + alu, alu_cycles=alu, transfer_cycles=transfer, gemm_cycles=result["ideal_cycles"])
        result["seconds"] = result["cycles"] / (hw.clock_mhz * 1e6)
        return result


def _dram_bytes(cme, operand, bus_bits):
    """Bytes moved between DRAM and the chip for one operand.

    ZigZag counts accesses per memory level in words of that level's port width (the bus for DRAM);
    the DRAM level is the last. Inputs and weights only go down (reads); outputs go up (writes) and,
    when partial sums spill, come back down.
    """
    from zigzag.hardware.architecture.memory_port import DataDirection

    by_name = {str(op): accesses for op, accesses in cme.memory_word_access.items()}
    moving = by_name[operand][-1].data
    words = moving[DataDirection.RD_OUT_TO_LOW]
    if operand == "O":
        words += moving[DataDirection.WR_IN_BY_LOW]
    return int(words * bus_bits // 8)


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def default_schedule(layer: ConvLayer, hw: VTAConfig):
    """A hand schedule in the style of VTA's tutorial (whole rows, half the output channels per
    virtual thread, one input-channel block, the tallest row tile that fits): what a user gets
    without tuning, and the fixed schedule of the hardware-sweep baseline. None if nothing fits."""
    co_blocks = math.ceil(layer.k / hw.block_out)
    batch_blocks = math.ceil(layer.n / hw.batch)
    oc_nthread = 2 if co_blocks >= 2 else 1
    for tile_co in sorted((d for d in divisors(co_blocks) if d <= max(co_blocks // 2, 1)), reverse=True):
        for tile_h in sorted(divisors(layer.oh), reverse=True):
            for tile_w in sorted(divisors(layer.ow), reverse=True):
                inp, wgt, acc = tile_bytes(layer, hw, 1, tile_h, tile_w, 1, tile_co)
                if inp * oc_nthread <= hw.inp_buf and wgt <= hw.wgt_buf and acc * oc_nthread <= hw.acc_buf:
                    return {"tile_b": min(1, batch_blocks), "tile_h": tile_h, "tile_w": tile_w, "tile_ci": 1,
                            "tile_co": tile_co, "oc_nthread": oc_nthread, "h_nthread": 1}
    return None
