"""The MetaSchedule benchmark's workloads: a matmul, and ResNet-18 conv2d layers through Relax."""
from ._tvm import require_metaschedule

# (name, N, H, W, C_in, C_out, kernel, stride, padding): three ResNet-18 3x3 convolutions.
RESNET18_CONV2D = {
    "resnet18_conv2d_56": (1, 56, 56, 64, 64, 3, 1, 1),
    "resnet18_conv2d_28": (1, 28, 28, 128, 128, 3, 1, 1),
    "resnet18_conv2d_14": (1, 14, 14, 256, 256, 3, 1, 1),
}
WORKLOADS = ("matmul_512",) + tuple(RESNET18_CONV2D)


def default_target(num_cores=2):
    tvm, _ = require_metaschedule()
    # apache-tvm 0.27 refuses the string form ("llvm -num-cores 2").
    return tvm.target.Target({"kind": "llvm", "num-cores": int(num_cores)})


def matmul(n):
    tvm, _ = require_metaschedule()
    from tvm import te

    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def conv2d_relax(n, h, w, cin, cout, kernel, stride, padding):
    """The conv2d layer as MetaSchedule tunes it in a network: a Relax function, legalized to TIR, the
    one task extracted from it."""
    tvm, ms = require_metaschedule()
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, cin, h, w), "float32"))
    weight = relax.Var("w", relax.TensorType((cout, cin, kernel, kernel), "float32"))
    with bb.function("main", [x, weight]):
        with bb.dataflow():
            out = bb.emit(relax.op.nn.conv2d(x, weight, strides=stride, padding=padding))
            gv = bb.emit_output(out)
        bb.emit_func_output(gv)
    mod = relax.transform.LegalizeOps()(bb.get())
    tasks = ms.relax_integration.extract_tasks(mod, default_target())
    conv = [t for t in tasks if "conv2d" in t.task_name]
    return conv[0].dispatched[0]


def workload(name):
    if name.startswith("matmul_"):
        return matmul(int(name.split("_")[1]))
    if name in RESNET18_CONV2D:
        return conv2d_relax(*RESNET18_CONV2D[name])
    raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
