"""Distributed measurement on TVM's own RPC tracker: tuning survives losing one of two servers."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from tvm import autotvm, rpc

from tvm_arco_plugin import ARCOTuner
from tvm_arco_plugin.records import is_retryable, read_records

from conftest import matmul_task

KEY = "arco-test"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_tracker():
    port = free_port()
    tracker = subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
                                "--port", str(port), "--port-end", str(port + 1)])
    time.sleep(2)
    return port, tracker


def start_servers(port, count, expected_free):
    # Each server in its own process group: `rpc_server` serves from a popen_worker child, and a dead
    # server means both processes gone.
    # Each on a port of its own: servers started together can otherwise bind the same one, and then all
    # but one fail to listen ("Address already in use").
    servers = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_server", "--tracker", f"127.0.0.1:{port}",
                                 "--key", KEY, "--host", "127.0.0.1", "--port", str(own), "--port-end", str(own + 1)],
                                start_new_session=True)
               for own in (free_port() for _ in range(count))]
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            summary = rpc.connect_tracker("127.0.0.1", port).summary()
            if sum(q["free"] for k, q in summary["queue_info"].items() if k == KEY) == expected_free:
                return servers
        except Exception:  # pylint: disable=broad-except
            pass
        time.sleep(0.5)
    pytest.fail("the RPC servers did not register with the tracker")


@pytest.fixture
def tracker():
    port, proc = start_tracker()
    servers = []
    yield port, servers
    for server in servers + [proc]:
        kill_server(server)


@pytest.fixture
def tracker_with_two_servers(tracker):
    port, servers = tracker
    servers += start_servers(port, 2, expected_free=2)
    yield port, servers[0], servers[1]


def kill_server(proc):
    """The server process and its serving child, as when the device goes away."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


@pytest.mark.slow
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
            threading.Timer(0.3, kill_server, [doomed]).start()

    tuner = ARCOTuner(task, seed=0)
    tuner.tune(n_trial=24, measure_option=option,
               callbacks=[autotvm.callback.log_to_file(str(log)), kill_after_second_batch])
    records = list(read_records(str(log)))
    assert len(records) == 24  # tuned to the end: every trial is in the log, measured or an error
    assert doomed.poll() is not None and survivor.poll() is None
    after_kill = records[6:]
    assert sum(res.error_no == 0 for _, res in after_kill) >= 8  # the surviving server kept measuring
    assert tuner.best_flops > 0


def test_resume_measures_again_what_failed_while_the_device_was_gone(tracker, tmp_path):
    """The only server dies mid-run: the remaining trials fail (timeouts waiting for a device). Once a
    server is back, a resumed run measures exactly those configs again, first."""
    port, servers = tracker
    servers += start_servers(port, 1, expected_free=1)
    task = matmul_task(128)
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(timeout=60),
        runner=autotvm.RPCRunner(KEY, "127.0.0.1", port, number=2, repeat=1, timeout=2, n_parallel=2))
    log = tmp_path / "rpc.log"

    def kill_after_first_batch(_, inputs, results):
        if servers[0].poll() is None:
            kill_server(servers[0])

    ARCOTuner(task, seed=0).tune(n_trial=8, measure_option=option,
                                 callbacks=[autotvm.callback.log_to_file(str(log)), kill_after_first_batch])
    records = list(read_records(str(log)))
    lost = {inp.config.index for inp, res in records if is_retryable(res)}
    assert len(records) == 8 and len(lost) >= 4, [int(r.error_no) for _, r in records]

    servers += start_servers(port, 1, expected_free=1)
    resumed = ARCOTuner(task, seed=0)
    resumed.load_history(records)
    assert len(resumed.xs) == 8 - len(lost)
    again = []
    resumed.tune(n_trial=len(lost), measure_option=option,
                 callbacks=[lambda _, inputs, results: again.extend(zip(inputs, results))])
    assert {inp.config.index for inp, _ in again} == lost
    assert all(res.error_no == 0 for _, res in again)
