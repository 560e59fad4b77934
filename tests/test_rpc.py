"""Distributed measurement on TVM's own RPC tracker: tuning survives losing one of two servers."""
import socket
import subprocess
import sys
import threading
import time

import pytest
from tvm import autotvm, rpc

from tvm_arco_plugin import ARCOTuner
from tvm_arco_plugin.records import read_records

from conftest import matmul_task

KEY = "arco-test"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tracker_with_two_servers():
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
                               "--port", str(port), "--port-end", str(port + 1)])]
    time.sleep(2)
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_server", "--tracker",
                                       f"127.0.0.1:{port}", "--key", KEY, "--host", "127.0.0.1"]))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            summary = rpc.connect_tracker("127.0.0.1", port).summary()
            if sum(q["free"] for k, q in summary["queue_info"].items() if k == KEY) == 2:
                break
        except Exception:  # pylint: disable=broad-except
            pass
        time.sleep(0.5)
    else:
        pytest.fail("the RPC servers did not register with the tracker")
    yield port, procs[1], procs[2]
    for proc in procs:
        proc.kill()
        proc.wait()


def test_tuning_continues_when_one_rpc_server_dies(tracker_with_two_servers, tmp_path):
    port, doomed, survivor = tracker_with_two_servers
    task = matmul_task(128)
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=60),
        runner=autotvm.RPCRunner(KEY, "127.0.0.1", port, number=2, repeat=1, timeout=20, n_parallel=2))
    log = tmp_path / "rpc.log"
    batches = []

    def kill_after_second_batch(_, inputs, results):
        batches.append(len(inputs))
        if len(batches) == 2:
            # Killed a moment later, while the next batch is being measured.
            threading.Timer(0.3, doomed.kill).start()

    tuner = ARCOTuner(task, seed=0)
    tuner.tune(n_trial=24, measure_option=option,
               callbacks=[autotvm.callback.log_to_file(str(log)), kill_after_second_batch])
    records = list(read_records(str(log)))
    assert len(records) == 24  # tuned to the end: every trial is in the log, measured or an error
    assert doomed.poll() is not None and survivor.poll() is None
    after_kill = records[6:]
    assert sum(res.error_no == 0 for _, res in after_kill) >= 8  # the surviving server kept measuring
    assert tuner.best_flops > 0
