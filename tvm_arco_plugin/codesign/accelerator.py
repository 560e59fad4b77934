"""A VTA-like accelerator: its parameters, the resource budget, and the layers it runs.

VTA's default configuration (apache/tvm ``vta_config.json``): a 1x16x16 int8 GEMM core (BATCH x
BLOCK_IN x BLOCK_OUT = 256 MACs per cycle), 32 KiB input, 256 KiB weight and 128 KiB accumulator
buffers, a 64-bit DRAM bus, 100 MHz on the PYNQ/DE10 boards. Co-design redistributes these resources:
every candidate must fit the default's MAC count and total on-chip buffer bytes.
"""
from dataclasses import asdict, dataclass

KIB = 1024


@dataclass(frozen=True)
class VTAConfig:
    batch: int = 1
    block_in: int = 16
    block_out: int = 16
    inp_buf: int = 32 * KIB  # bytes
    wgt_buf: int = 256 * KIB
    acc_buf: int = 128 * KIB
    bus_bits: int = 64
    clock_mhz: float = 100.0

    @property
    def macs(self):
        return self.batch * self.block_in * self.block_out

    @property
    def buffer_bytes(self):
        return self.inp_buf + self.wgt_buf + self.acc_buf

    def as_dict(self):
        out = {k.upper(): v for k, v in asdict(self).items()}
        out["MACS"], out["BUFFER_BYTES"] = self.macs, self.buffer_bytes
        return out


DEFAULT_VTA = VTAConfig()


@dataclass(frozen=True)
class ResourceBudget:
    macs: int = DEFAULT_VTA.macs
    buffer_bytes: int = DEFAULT_VTA.buffer_bytes

    def violation(self, hw: VTAConfig):
        """Why ``hw`` breaks the budget, or None."""
        if hw.macs > self.macs:
            return f"{hw.batch}x{hw.block_in}x{hw.block_out} = {hw.macs} MACs exceeds the budget of {self.macs}"
        if hw.buffer_bytes > self.buffer_bytes:
            return (f"on-chip buffers {hw.buffer_bytes // KIB} KiB (inp {hw.inp_buf // KIB} + wgt {hw.wgt_buf // KIB}"
                    f" + acc {hw.acc_buf // KIB}) exceed the budget of {self.buffer_bytes // KIB} KiB")
        return None


# The hardware agent's choices (the VTA++ ranges, cut to what the default budget can afford).
HW_CHOICES = {
    "hw_batch": [1, 2],
    "hw_block_in": [8, 16, 32],
    "hw_block_out": [8, 16, 32],
    "hw_inp_kib": [16, 32, 64, 128],
    "hw_wgt_kib": [64, 128, 256, 320],
    "hw_acc_kib": [32, 64, 128, 256],
}


def hardware_from_knobs(values):
    """``{"hw_batch": .., ...}`` -> VTAConfig."""
    return VTAConfig(batch=values["hw_batch"], block_in=values["hw_block_in"], block_out=values["hw_block_out"],
                     inp_buf=values["hw_inp_kib"] * KIB, wgt_buf=values["hw_wgt_kib"] * KIB,
                     acc_buf=values["hw_acc_kib"] * KIB)


def knobs_from_hardware(hw: VTAConfig):
    return {"hw_batch": hw.batch, "hw_block_in": hw.block_in, "hw_block_out": hw.block_out,
            "hw_inp_kib": hw.inp_buf // KIB, "hw_wgt_kib": hw.wgt_buf // KIB, "hw_acc_kib": hw.acc_buf // KIB}


@dataclass(frozen=True)
class ConvLayer:
    """An NCHW int8 conv2d (dense = 1x1 conv on a 1x1 image)."""
    name: str
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    stride: int
    pad: int

    @property
    def oh(self):
        return (self.h + 2 * self.pad - self.r) // self.stride + 1

    @property
    def ow(self):
        return (self.w + 2 * self.pad - self.s) // self.stride + 1

    @property
    def macs(self):
        return self.n * self.k * self.c * self.oh * self.ow * self.r * self.s

    def args(self):
        return (self.n, self.c, self.h, self.w, self.k, self.r, self.s, self.stride, self.pad)


def _resnet18():
    # VTA runs every ResNet-18 conv except the first (C=3, left on the CPU as in VTA's deploy tutorial);
    # the classifier also runs on the CPU there. (name, C, H, K, R, stride, pad, count in the network)
    rows = [("c2", 64, 56, 64, 3, 1, 1, 4), ("c3", 64, 56, 128, 3, 2, 1, 1), ("c4", 64, 56, 128, 1, 2, 0, 1),
            ("c5", 128, 28, 128, 3, 1, 1, 3), ("c6", 128, 28, 256, 3, 2, 1, 1), ("c7", 128, 28, 256, 1, 2, 0, 1),
            ("c8", 256, 14, 256, 3, 1, 1, 3), ("c9", 256, 14, 512, 3, 2, 1, 1), ("c10", 256, 14, 512, 1, 2, 0, 1),
            ("c11", 512, 7, 512, 3, 1, 1, 3)]
    return [(ConvLayer(n, 1, c, h, h, k, r, r, st, p), count) for n, c, h, k, r, st, p, count in rows]


def _vgg16():
    rows = [("c1_2", 64, 224, 64, 1), ("c2_1", 64, 112, 128, 1), ("c2_2", 128, 112, 128, 1),
            ("c3_1", 128, 56, 256, 1), ("c3_2", 256, 56, 256, 2), ("c4_1", 256, 28, 512, 1),
            ("c4_2", 512, 28, 512, 2), ("c5", 512, 14, 512, 3)]
    return [(ConvLayer(n, 1, c, h, h, k, 3, 3, 1, 1), count) for n, c, h, k, count in rows]


NETWORK_LAYERS = {"resnet18": _resnet18, "vgg16": _vgg16}
