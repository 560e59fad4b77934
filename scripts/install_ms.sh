#!/usr/bin/env bash
# Creates .venv-ms (Python 3.11) with PyPI's apache-tvm 0.27 (MetaSchedule, no AutoTVM) and what
# tvm_arco_plugin.metaschedule needs. Separate from .venv: the two TVMs cannot share an environment.
# Idempotent: re-running it only does what is missing, then re-runs the self-check.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source scripts/versions.env

PY=${PYTHON:-python${PYTHON_VERSION}}
command -v "$PY" >/dev/null || { echo "install-ms: $PY not found (Python ${PYTHON_VERSION} is required)" >&2; exit 1; }
VENV=.venv-ms
if [ ! -x "$VENV/bin/python" ]; then
  echo "install-ms: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
CONSTRAINTS=constraints-ms.txt
PIP=("$VPY" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS")

echo "install-ms: Python packages (exact versions from $CONSTRAINTS)"
"${PIP[@]}" setuptools wheel torch
# psutil, cloudpickle and tornado: MetaSchedule imports them, apache-tvm does not declare them.
# xgboost-cpu: the same `xgboost` module without the CUDA libraries the plain wheel pulls in.
"${PIP[@]}" apache-tvm apache-tvm-ffi psutil cloudpickle tornado xgboost-cpu numpy scipy pytest matplotlib

echo "install-ms: tvm-arco-plugin (editable, without the AutoTVM install's dependency ranges)"
"${PIP[@]}" --no-deps --no-build-isolation -e .

echo "install-ms: self-check (a real MetaSchedule build + run of one candidate)"
"$VPY" -m tvm_arco_plugin.metaschedule.selfcheck
