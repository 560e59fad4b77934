"""Prior knowledge from earlier tunes: a cost model trained on another workload's records, which ARCO
follows from its first batch (measurements are the deterministic pretend run times of test_strategy)."""
import numpy as np
import pytest

from tvm_arco_plugin.metaschedule.prior import cost_model_from_databases
from tvm_arco_plugin.metaschedule.workloads import default_target, matmul

from helpers import ms, tune_context
from test_strategy import drive, pretend_seconds


@pytest.fixture(scope="module")
def other_workload_database(tmp_path_factory):
    """64 pretend-measured records of a 96^3 matmul, written as a tune would write them."""
    work_dir = str(tmp_path_factory.mktemp("prior"))
    database = ms.database.JSONDatabase(work_dir=work_dir)
    mod = matmul(96)
    workload = database.commit_workload(mod)
    target = default_target()

    def record(candidates, results):
        for candidate, result in zip(candidates, results):
            database.commit_tuning_record(ms.database.TuningRecord(
                candidate.sch.trace, workload, result.run_secs, target, candidate.args_info))

    drive(mod, seed=11, trials=64, on_results=record)
    return work_dir, mod


def first_batch_seconds(mod, cost_model, seeds=(0, 1, 2)):
    """Run times of the first batches (16 each) of three seeds."""
    seconds = []
    for seed in seeds:
        _, strategy = drive(mod, seed=seed, trials=16, cost_model=cost_model)
        seconds += [s for _, _, _, s in strategy.stats.measured]
    return seconds


def test_a_model_trained_on_another_workload_guides_arcos_first_batch(other_workload_database, matmul_128):
    work_dir, _ = other_workload_database
    model = cost_model_from_databases([work_dir], default_target())
    context = tune_context(matmul_128)
    probe = [ms.search_strategy.MeasureCandidate(s, ms.arg_info.ArgInfo.from_entry_func(s.mod))
             for s in context.generate_design_space()]
    assert np.allclose(model.predict(context, probe), model.predict(context, probe))  # learnt: no warm-up left
    without = first_batch_seconds(matmul_128, cost_model=None)
    with_prior = first_batch_seconds(matmul_128, cost_model=model)
    assert len(with_prior) == len(without) == 48
    assert float(np.median(with_prior)) < 0.8 * float(np.median(without))


def test_the_tuned_workloads_own_records_are_left_out_and_an_empty_prior_is_refused(other_workload_database, tmp_path):
    work_dir, mod = other_workload_database
    with pytest.raises(ValueError, match="no measured record of another workload"):
        cost_model_from_databases([work_dir], default_target(), exclude=[mod])
    with pytest.raises(ValueError, match="holds no MetaSchedule JSON database"):
        cost_model_from_databases([str(tmp_path)], default_target())
