"""arco-tune as a user runs it: bad input, kill and resume, failing tasks; tvmc with the upstream patch."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tvm import autotvm

from tvm_arco_plugin.records import read_records
from tvm_arco_plugin.target import host_target_string

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_NET = """
import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16 * 8 * 8, 10)
    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))
torch.manual_seed(0)
torch.jit.save(torch.jit.trace(Net().eval(), torch.randn(1, 3, 8, 8)), sys.argv[1])
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """CLI arguments for a small TorchScript model's conv2d task (quick to extract, build and measure)."""
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    # Its own process: this test process has imported TVM, after which torch.jit cannot be used.
    subprocess.run([sys.executable, "-c", TINY_NET, str(path)], check=True, timeout=300)
    return ["--model", str(path), "--input-shape", "1,3,8,8", "--tasks", "0", "--skip-latency", "--number", "1",
            "--min-repeat-ms", "1"]


def arco_tune(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "tvm_arco_plugin.cli", *args], capture_output=True, text=True,
                          timeout=600, check=False, **kwargs)


def assert_one_line_error(done, message):
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "--trials must be at least 1"),
    (["--model", "missing.pt"], "no such file: missing.pt"),
    (["--prior-records", "missing.log"], "no such file: missing.log"),
    (["--rpc-tracker", "localhost"], "go together"),
    (["--rpc-tracker", "localhost", "--rpc-key", "k"], "must be HOST:PORT"),
    (["--tuner", "nope"], "invalid choice"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", "99999999999"], "--seed must be between 0 and 4294967295"),
    (["--output", "/proc/x.log"], "--output /proc/x.log: cannot write there"),
    (["--output", "/tmp"], "--output /tmp: is a directory"),
    (["--plot", "/proc/nope/c.png"], "--plot /proc/nope/c.png: cannot write there"),
    (["--rpc-tracker", "127.0.0.1:1", "--rpc-key", "k"], "--rpc-tracker 127.0.0.1:1: no tracker answers there"),
])
def test_bad_flags_give_one_line_errors_before_any_work(args, message):
    tic = time.time()
    done = arco_tune(*args)
    assert_one_line_error(done, message)
    assert time.time() - tic < 60  # refused before the model is even loaded (a resnet18 extraction takes longer)


def _unrunnable_x86_cpu():
    """An x86 CPU whose instructions this machine lacks, or None if it has all of those tried."""
    import tvm

    from tvm_arco_plugin.cli import _isa_features
    from tvm_arco_plugin.target import host_target

    here = _isa_features(host_target())
    for cpu in ("sapphirerapids", "graniterapids", "skylake-avx512", "znver4", "haswell"):
        if _isa_features(tvm.target.Target(f"llvm -mtriple=x86_64-linux-gnu -mcpu={cpu}")) - here:
            return cpu
    return None


@pytest.mark.parametrize("target, message", [
    ("llvm -mtriple=x86_64-linux-gnu -mcpu=pentium9000", "`-mcpu=pentium9000` is not valid"),
    ("notatarget -foo", "not a TVM target"),
    ("cuda", "no cuda code generator"),
    ("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72", "aarch64 code cannot run on this x86_64"),
    ("unrunnable x86 cpu", "uses instructions this CPU lacks"),
])
def test_a_target_this_machine_cannot_build_or_run_is_refused_before_task_extraction(tmp_path, capsys, target,
                                                                                       message):
    from tvm_arco_plugin import cli

    if target == "unrunnable x86 cpu":
        cpu = _unrunnable_x86_cpu()
        if cpu is None:
            pytest.skip("this CPU has every instruction set of the CPUs tried")
        target = f"llvm -mtriple=x86_64-linux-gnu -mcpu={cpu}"
    log = tmp_path / "never.log"
    tic = time.time()
    assert cli.main(["--network", "resnet18", "--skip-latency", "--target", target, "--output", str(log)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not log.exists() and time.time() - tic < 20  # task extraction alone takes longer


def test_an_input_shape_the_model_cannot_take_is_refused(tiny, tmp_path):
    log = tmp_path / "never.log"
    for shape, message in (("1,3,9,9,9", "--input-shape 1,3,9,9,9: the model cannot take an input of this shape"),
                           ("1,3,0,8", "dimensions must be positive")):
        assert_one_line_error(arco_tune(*tiny, "--input-shape", shape, "--output", str(log)), message)
    assert not log.exists()


def test_a_model_without_tunable_operators_is_refused(tmp_path):
    path = tmp_path / "relu.pt"
    script = ("import sys, torch\n"
              "torch.jit.save(torch.jit.trace(torch.nn.ReLU().eval(), torch.randn(1, 4)), sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=300)
    done = arco_tune("--model", str(path), "--input-shape", "1,4", "--skip-latency", "--output", str(tmp_path / "r.log"))
    assert_one_line_error(done, "no AutoTVM-tunable operators")


def test_a_file_that_is_not_a_model_is_a_one_line_error(tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_text("not torchscript")
    done = arco_tune("--model", str(bogus), "--skip-latency")
    assert done.returncode == 2
    assert "not a TorchScript file" in done.stderr and "Traceback" not in done.stderr


def _distinct_indexes(log):
    records = list(read_records(str(log)))
    return records, {inp.config.index for inp, _ in records}


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, marks=pytest.mark.slow),
                                 pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGKILL])
def test_killed_run_leaves_a_valid_log_and_resumes_without_remeasuring(tiny, tmp_path, sig):
    log, errors = tmp_path / "run.log", tmp_path / "stderr.txt"
    with open(errors, "w", encoding="utf-8") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "tvm_arco_plugin.cli", *tiny, "--trials", "16",
                                 "--output", str(log)], stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 6):
            time.sleep(0.1)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    try:  # SIGKILL gives the measurement workers no chance to stop: clean up after it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "--prior-records" in errors.read_text()  # tells the user how to continue
        assert "Traceback" not in errors.read_text()
    if sig == signal.SIGKILL:  # its measurement workers (local RPC tracker and server) stop with it
        deadline = time.time() + 15
        while time.time() < deadline and _group_alive(proc.pid):
            time.sleep(0.5)
        assert not _group_alive(proc.pid), "processes of the killed run are still running"
    records, indexes = _distinct_indexes(log)
    assert 6 <= len(records) < 16
    assert len(indexes) == len(records)
    half = log.read_text().splitlines()[0][:70]
    with open(log, "a", encoding="utf-8") as handle:  # as if killed in the middle of writing a record
        handle.write(half)

    done = arco_tune(*tiny, "--trials", "16", "--prior-records", str(log), "--output", str(log))
    assert done.returncode == 0, done.stderr
    assert f"{len(indexes)} configs already measured" in done.stdout
    resumed, resumed_indexes = _distinct_indexes(log)
    assert len(resumed) == len(resumed_indexes) == 16  # nothing measured twice, nothing lost
    assert indexes <= resumed_indexes
    assert len(list(autotvm.record.load_from_file(str(log)))) == 16  # AutoTVM's own reader: every line reads
    assert (tmp_path / "run.log.rejected").read_text() == half + "\n"


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_resume_into_a_new_log_copies_prior_records_and_skips_foreign_ones(tiny, tmp_path):
    prior = tmp_path / "prior.log"
    done = arco_tune(*tiny, "--trials", "8", "--output", str(prior))
    assert done.returncode == 0, done.stderr
    lines = prior.read_text().splitlines()
    foreign = lines[0].replace("[1, 3, 8, 8]", "[1, 3, 9, 9]")  # a record of a task this model does not have
    assert foreign != lines[0]
    prior.write_text("\n".join(lines + [foreign, lines[1][:40]]))  # plus a truncated last line
    out = tmp_path / "out.log"
    done = arco_tune(*tiny, "--trials", "12", "--prior-records", str(prior), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "not a task being tuned" in done.stderr and "skipping unreadable log line" in done.stderr
    records, indexes = _distinct_indexes(out)
    assert len(records) == len(indexes) == 12


def test_a_task_whose_every_config_fails_exits_nonzero(tiny, tmp_path):
    # Every run needs >= 5 s (min_repeat_ms) but may take 1 s (timeout): all measurements fail.
    done = arco_tune(*tiny, "--trials", "4", "--timeout", "1", "--min-repeat-ms", "5000",
                     "--output", str(tmp_path / "fail.log"))
    assert done.returncode == 1
    assert "every measured configuration failed" in done.stderr and "Traceback" not in done.stderr
    assert "warning: 4 of 4 measurements of task 0 failed" in done.stderr


def test_plot_and_latency_report(tiny, tmp_path):
    png = tmp_path / "curves.png"
    args = [a for a in tiny if a != "--skip-latency"] + ["--trials", "4", "--output", str(tmp_path / "r.log"),
                                                          "--plot", str(png)]
    done = arco_tune(*args)
    assert done.returncode == 0, done.stderr
    assert "end-to-end latency, median of 10 runs" in done.stdout and "before tuning" in done.stdout
    assert "1 of 3 tasks tuned, the others run untuned" in done.stdout
    assert png.stat().st_size > 1000


def test_latency_report_says_when_a_difference_is_noise():
    from tvm_arco_plugin.cli import latency_report

    noisy = latency_report([10.0, 10.4, 9.9], [9.8, 10.1, 10.2], 1, 14)
    assert "10.00 ms (9.90-10.40) before" in noisy and "within run-to-run noise" in noisy
    assert "1 of 14 tasks tuned" in noisy
    clear = latency_report([10.0, 10.4, 9.9], [5.0, 4.9, 5.2], 14, 14)
    assert "2.00x" in clear and "outside the run-to-run ranges" in clear and clear.endswith("14 of 14 tasks tuned")


def test_trials_header_names_what_is_tuned():
    from types import SimpleNamespace

    from tvm_arco_plugin.cli import trials_header

    tasks = [SimpleNamespace(config_space=range(n)) for n in (300, 1000)]
    args = SimpleNamespace(tuner="arco", output="x.log", trials=10 ** 20)
    assert "every config of each task (the largest space has 1000)" in trials_header(tasks, tasks * 7, args)
    assert "2 of 14 tasks" in trials_header(tasks, tasks * 7, args) and "10000000000" not in trials_header(
        tasks, tasks, args)
    args.trials = 200
    assert "up to 200 trials per task" in trials_header(tasks, tasks, args)


def test_tvmc_tune_with_the_upstream_patch(tmp_path):
    """Apply patches/upstream/0001 to a temporary copy of the installed tvmc and run `tvmc tune --tuner arco`."""
    import tvm.driver.tvmc

    copy = tmp_path / "driver" / "tvmc"
    shutil.copytree(os.path.dirname(tvm.driver.tvmc.__file__), copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    patch = os.path.join(ROOT, "patches", "upstream", "0001-tvmc-tune-add-arco-tuner.patch")
    subprocess.run(["patch", "-p5", "-d", str(copy), "-i", patch], check=True, capture_output=True)
    assert '"arco"' in (copy / "autotuner.py").read_text()
    model = tmp_path / "dense.relay"
    model.write_text('#[version = "0.0.5"]\n'
                     "def @main(%data: Tensor[(1, 64), float32], %w: Tensor[(32, 64), float32]) {\n"
                     "  nn.dense(%data, %w, units=32)\n}\n")
    log = tmp_path / "tvmc.log"
    runner = ("import sys, tvm.driver\n"
              f"tvm.driver.__path__.insert(0, {str(tmp_path / 'driver')!r})\n"
              "import tvm.driver.tvmc.autotuner as tuner_module\n"
              f"assert tuner_module.__file__.startswith({str(copy)!r})\n"
              "from tvm.driver.tvmc.main import main\n"
              "sys.argv = ['tvmc'] + sys.argv[1:]\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", runner, "tune", "--target", host_target_string(), "--tuner", "arco",
                           "--trials", "8", "--output", str(log), "--input-shapes", "data:[1,64] w:[32,64]",
                           str(model)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = list(read_records(str(log)))
    assert records and all(inp.task.name.startswith("dense") for inp, _ in records)
    assert any(res.error_no == 0 for _, res in records)
