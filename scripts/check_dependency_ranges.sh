#!/usr/bin/env bash
# Installs the lowest versions setup.cfg's ranges admit that are installable here (numpy 1.23.5 with
# xgboost 1.7.0; torch stays at the one CPU wheel this install uses) into .venv-ranges, beside the TVM
# of .venv (run `make install` first), and runs the engine, tuner and replay tests there.
# The highest versions the ranges admit (numpy 1.26.4, xgboost 1.7.6) are the install's own: `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source scripts/versions.env
LOW=(numpy==1.23.5 xgboost==1.7.0.post0)
VENV=.venv-ranges
[ -x .venv/bin/python ] || { echo "check_dependency_ranges: run make install first" >&2; exit 1; }
rm -rf "$VENV"
"python${PYTHON_VERSION}" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" "torch==$(sed -n 's/^torch==//p' constraints.txt)"
"${PIP[@]}" "${LOW[@]}" $TVM_RUNTIME_DEPS hypothesis
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$(cd .venv/tvm-fork && pwd)" > "$SITE/hhb_tvm_fork.pth"   # the patched TVM of .venv
"${PIP[@]}" --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c 'import numpy, xgboost, torch; print("versions:", numpy.__version__, xgboost.__version__, torch.__version__)'
"$VENV/bin/python" -m tvm_arco_plugin.selfcheck
# The codesign and plot extras are left out: at numpy 1.23 their dependencies (matplotlib, contourpy) do
# not resolve from this machine's package index, so the four tests that need them are deselected.
"$VENV/bin/python" -m pytest -q -m "not slow" tests/test_engine.py tests/test_tuner.py tests/test_records_and_replay.py \
    --deselect tests/test_engine.py::test_on_a_large_space_the_agents_walks_supply_most_measured_configs \
    --deselect tests/test_engine.py::test_a_frozen_policy_finds_worse_candidates_than_a_learning_one \
    --deselect tests/test_engine.py::test_a_knob_value_that_never_worked_is_tried \
    --deselect tests/test_records_and_replay.py::test_replay_json_is_deterministic_and_merges_across_runs
