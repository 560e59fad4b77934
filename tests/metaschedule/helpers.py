"""Helpers of the MetaSchedule tests (run in .venv-ms, `make test-ms`)."""
from tvm_arco_plugin.metaschedule._tvm import require_metaschedule

tvm, ms = require_metaschedule()


def tune_context(mod, target=None, seed=1, num_threads=2):
    from tvm_arco_plugin.metaschedule.workloads import default_target

    return ms.TuneContext(mod=mod, target=target or default_target(), space_generator="post-order-apply",
                          search_strategy="replay-trace", task_name="main", rand_state=seed,
                          num_threads=num_threads).clone()
