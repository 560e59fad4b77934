"""`python -m tvm_arco_plugin.metaschedule.selfcheck`: one real MetaSchedule tune of a small matmul
with ARCOSearchStrategy and the fixed builder; fails loudly if no candidate builds and runs."""
import sys
import tempfile

from ._tvm import require_metaschedule


def main():
    tvm, ms = require_metaschedule()
    from . import ARCOSearchStrategy, local_builder
    from .strategy import run_seconds
    from .workloads import default_target, matmul

    with tempfile.TemporaryDirectory() as work_dir:
        database = ms.tune_tir(matmul(64), default_target(), work_dir, max_trials_global=2, num_trials_per_iter=2,
                               strategy=ARCOSearchStrategy(seed=0), builder=local_builder())
        worked = sum(run_seconds(r) is not None for r in database.get_all_tuning_records())
    if worked == 0:
        print(f"selfcheck: FAILED, none of {len(database)} candidates built and ran (see the log above)", file=sys.stderr)
        return 1
    print(f"selfcheck: OK, apache-tvm {tvm.__version__}: {worked} of {len(database)} candidates built and ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
