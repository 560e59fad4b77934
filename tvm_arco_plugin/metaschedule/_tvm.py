"""The one place the MetaSchedule side imports TVM, so a wrong TVM fails with one clear message."""

_HELP = (
    "tvm_arco_plugin.metaschedule needs apache-tvm 0.27 (MetaSchedule at tvm.s_tir.meta_schedule). "
    "Run `make test-ms` or `make demo-ms` in the project folder: they create .venv-ms with the pinned "
    "versions (the AutoTVM .venv holds the hhb-tvm fork, which has no tvm.s_tir). "
)


def require_metaschedule():
    try:
        import tvm
        from tvm.s_tir import meta_schedule
    except ImportError as err:
        raise ImportError(_HELP + f"(import failed: {err})") from err
    return tvm, meta_schedule
