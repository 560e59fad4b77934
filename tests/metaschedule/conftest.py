"""Fixtures for the MetaSchedule tests: they run in .venv-ms (apache-tvm 0.27), `make test-ms`."""
import pytest


@pytest.fixture(scope="session")
def matmul_128():
    from tvm_arco_plugin.metaschedule.workloads import matmul

    return matmul(128)
