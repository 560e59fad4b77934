"""AutoTVM templates shipped with the plugin (registered on import).

``arco/matmul`` is the classic AutoTVM matmul template (two 2-way splits); ``arco/matmul_large``
splits all three loops and adds an unroll knob and a loop-order knob: 256x256x256 gives 4,374 configs,
64x1024x256 gives 4,158, large enough that random search stops being competitive.
"""
from tvm import autotvm, te

MATMUL = "arco/matmul"
MATMUL_LARGE = "arco/matmul_large"


def _matmul_compute(n, l, m, dtype):
    A = te.placeholder((n, l), name="A", dtype=dtype)
    B = te.placeholder((l, m), name="B", dtype=dtype)
    k = te.reduce_axis((0, l), name="k")
    C = te.compute((n, m), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


@autotvm.template(MATMUL)
def matmul(n, l, m, dtype):
    A, B, C = _matmul_compute(n, l, m, dtype)
    s = te.create_schedule(C.op)
    y, x = s[C].op.axis
    (k,) = s[C].op.reduce_axis
    cfg = autotvm.get_config()
    cfg.define_split("tile_y", y, num_outputs=2)
    cfg.define_split("tile_x", x, num_outputs=2)
    yo, yi = cfg["tile_y"].apply(s, C, y)
    xo, xi = cfg["tile_x"].apply(s, C, x)
    s[C].reorder(yo, xo, k, yi, xi)
    cfg.add_flop(2 * n * l * m)
    return s, [A, B, C]


@autotvm.template(MATMUL_LARGE)
def matmul_large(n, l, m, dtype):
    A, B, C = _matmul_compute(n, l, m, dtype)
    s = te.create_schedule(C.op)
    y, x = s[C].op.axis
    (k,) = s[C].op.reduce_axis
    cfg = autotvm.get_config()
    cfg.define_split("tile_y", y, num_outputs=2)
    cfg.define_split("tile_x", x, num_outputs=2)
    cfg.define_split("tile_k", k, num_outputs=2)
    cfg.define_knob("auto_unroll_max_step", [0, 16, 64])
    # Where the inner reduction loop sits decides register reuse: a real, interacting knob.
    cfg.define_knob("k_inner_outside", [0, 1])
    yo, yi = cfg["tile_y"].apply(s, C, y)
    xo, xi = cfg["tile_x"].apply(s, C, x)
    ko, ki = cfg["tile_k"].apply(s, C, k)
    if cfg["k_inner_outside"].val:
        s[C].reorder(yo, xo, ko, ki, yi, xi)
    else:
        s[C].reorder(yo, xo, ko, yi, ki, xi)
    s[C].vectorize(xi)
    s[C].pragma(yo, "auto_unroll_max_step", cfg["auto_unroll_max_step"].val)
    cfg.add_flop(2 * n * l * m)
    return s, [A, B, C]
