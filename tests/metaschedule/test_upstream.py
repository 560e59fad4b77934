"""patches/upstream/0002: `SearchStrategy.create("arco")` / `tune_tir(strategy="arco")` in TVM itself,
applied to a copy of the installed apache-tvm's Python package (the installed one is never changed)."""
import os
import subprocess
import sys

import tvm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATCH = os.path.join(ROOT, "patches", "upstream", "0002-metaschedule-arco-search-strategy.patch")
PATCHED = ("s_tir", "meta_schedule", "search_strategy")


def shadow_tvm(dest):
    """``dest/tvm``: symlinks to the installed package, with real copies along s_tir/meta_schedule/
    search_strategy so that the patch changes only the copy."""
    src = os.path.dirname(tvm.__file__)
    here, there = src, os.path.join(dest, "tvm")
    for depth in range(len(PATCHED) + 1):
        os.makedirs(there)
        for entry in os.listdir(here):
            if entry == "__pycache__" or (depth < len(PATCHED) and entry == PATCHED[depth]):
                continue
            if depth == len(PATCHED):
                subprocess.run(["cp", "-r", os.path.join(here, entry), there], check=True)
            else:
                os.symlink(os.path.join(here, entry), os.path.join(there, entry))
        if depth < len(PATCHED):
            here, there = os.path.join(here, PATCHED[depth]), os.path.join(there, PATCHED[depth])
    return there


def test_upstream_patch_registers_arco_as_a_metaschedule_strategy(tmp_path):
    strategy_dir = shadow_tvm(str(tmp_path / "site"))
    subprocess.run(["patch", "-p6", "-d", strategy_dir, "-i", PATCH, "--no-backup-if-mismatch"], check=True)
    script = """
import tempfile, tvm
from tvm.s_tir import meta_schedule as ms
from tvm_arco_plugin.metaschedule import local_builder
from tvm_arco_plugin.metaschedule.workloads import default_target, matmul
strategy = ms.search_strategy.create("arco", seed=0)
print("created", type(strategy).__name__, ms.search_strategy.ARCOSearch.__module__)
with tempfile.TemporaryDirectory() as work_dir:
    db = ms.tune_tir(matmul(32), default_target(), work_dir, max_trials_global=4, num_trials_per_iter=4,
                     strategy="arco", builder=local_builder())
    print("records", len(db))
"""
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "created ARCOSearchStrategy tvm.s_tir.meta_schedule.search_strategy.arco_search" in out.stdout
    assert "records 4" in out.stdout
