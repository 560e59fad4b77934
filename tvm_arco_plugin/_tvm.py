"""The one place that imports TVM, so a missing or wrong TVM fails with one clear message."""

_HELP = (
    "tvm-arco-plugin needs a TVM with AutoTVM (TVM <= 0.19; upstream removed AutoTVM in 0.20 and "
    "PyPI's apache-tvm has none). Run `make install` in the project folder: it installs the "
    "hhb-tvm 3.2.3 fork (TVM 0.16.dev0) with the fixes this plugin needs. "
)


def require_autotvm():
    try:
        import tvm
        from tvm import autotvm
    except ImportError as err:  # pragma: no cover - exercised only on a broken install
        raise ImportError(_HELP + f"(import failed: {err})") from err
    if not hasattr(autotvm, "tuner"):
        raise ImportError(_HELP + f"(found tvm {getattr(tvm, '__version__', '?')} without autotvm.tuner)")
    return tvm, autotvm
