import json
import os

import pytest
from tvm import autotvm

from tvm_arco_plugin import host_target, templates
from tvm_arco_plugin.replay import replay_measure_option

DATA = os.path.join(os.path.dirname(__file__), "data")
# Recorded once on the development machine with tvm_arco_plugin.recording.record_space
# (LocalBuilder + LocalRunner(number=3, repeat=1, min_repeat_ms=5)); all 64 configs.
MATMUL_128_LOG = os.path.join(DATA, "matmul_128.log")


def matmul_task(n=128, target=None):
    return autotvm.task.create(templates.MATMUL, args=(n, n, n, "float32"), target=target or host_target())


def log_lines_for(target, path=MATMUL_128_LOG):
    """The recorded log's lines, rebound to ``target``.

    AutoTVM keys records by target, and the log was written on a machine whose CPU (``-mcpu``) need
    not be this one's; tests that match records to a task built for this machine rebind them first.
    """
    lines = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            row = json.loads(line)
            row["input"][0] = str(target)
            lines.append(json.dumps(row))
    return lines


@pytest.fixture
def recorded_matmul():
    """(task, measure_option answering from the recorded log) for the 128^3 matmul."""
    task = matmul_task(128)
    return task, replay_measure_option(MATMUL_128_LOG, task, n_parallel=4)


@pytest.fixture
def local_measure_option():
    return autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=60),
        runner=autotvm.LocalRunner(number=2, repeat=1, timeout=60),
    )
