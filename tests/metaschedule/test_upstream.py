"""patches/upstream/0002: `SearchStrategy.create("arco")` / `tune_tir(strategy="arco")` in TVM itself;
0003: TVM's own LocalBuilder builds for a CPU without importing every tensor intrinsic. Each is applied
to a copy of the installed apache-tvm's Python package (the installed one is never changed)."""
import os
import subprocess
import sys

import tvm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATCHES = os.path.join(ROOT, "patches", "upstream")


def shadow_tvm(dest, patched):
    """``dest/tvm``: symlinks to the installed package, with real copies along ``patched`` (a folder's
    path in the package, as a tuple) so that a patch changes only the copy. Returns that folder."""
    src = os.path.dirname(tvm.__file__)
    here, there = src, os.path.join(dest, "tvm")
    for depth in range(len(patched) + 1):
        os.makedirs(there)
        for entry in os.listdir(here):
            if entry == "__pycache__" or (depth < len(patched) and entry == patched[depth]):
                continue
            if depth == len(patched):
                subprocess.run(["cp", "-r", os.path.join(here, entry), there], check=True)
            else:
                os.symlink(os.path.join(here, entry), os.path.join(there, entry))
        if depth < len(patched):
            here, there = os.path.join(here, patched[depth]), os.path.join(there, patched[depth])
    return there


def apply(patch, folder):
    subprocess.run(["patch", "-p6", "-d", folder, "-i", patch, "--no-backup-if-mismatch"], check=True)


def run_with(site, script):
    """``script``'s stdout, run in a fresh process (and its build workers) with ``site`` first on the path."""
    env = dict(os.environ, PYTHONPATH=site + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_upstream_patch_registers_arco_as_a_metaschedule_strategy(tmp_path):
    strategy_dir = shadow_tvm(str(tmp_path / "site"), ("s_tir", "meta_schedule", "search_strategy"))
    apply(os.path.join(PATCHES, "0002-metaschedule-arco-search-strategy.patch"), strategy_dir)
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
    out = run_with(str(tmp_path / "site"), script)
    assert "created ARCOSearchStrategy tvm.s_tir.meta_schedule.search_strategy.arco_search" in out
    assert "records 4" in out


def test_upstream_patch_lets_tvms_own_builder_build_for_a_cpu_without_the_intrinsics_import(tmp_path):
    """With a 5 s timeout, unpatched TVM's LocalBuilder times out on a 32x32 matmul (test_tune.py's
    builder-timeout test); patched, the same builder builds it, in workers that never import the registry."""
    builder_dir = shadow_tvm(str(tmp_path / "site"), ("s_tir", "meta_schedule", "builder"))
    apply(os.path.join(PATCHES, "0003-metaschedule-cpu-builds-skip-tensor-intrin-import.patch"), builder_dir)
    script = """
from tvm.s_tir import meta_schedule as ms
from tvm_arco_plugin.metaschedule.workloads import default_target, matmul
print("builder from", ms.builder.local_builder.__file__)
builder = ms.builder.LocalBuilder(timeout_sec=5.0, max_workers=1)
print("error:", builder.build([ms.builder.BuilderInput(matmul(32), default_target())])[0].error_msg)
"""
    out = run_with(str(tmp_path / "site"), script)
    assert f"builder from {builder_dir}" in out
    assert "error: None" in out, out
