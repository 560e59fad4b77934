#!/usr/bin/env bash
# Creates .venv (Python 3.11) with an AutoTVM-capable TVM and everything tvm-arco-plugin needs.
# Idempotent: re-running it only does what is missing, then re-runs the self-check.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source scripts/versions.env

PY=${PYTHON:-python${PYTHON_VERSION}}
command -v "$PY" >/dev/null || { echo "install: $PY not found (Python ${PYTHON_VERSION} is required)" >&2; exit 1; }
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  echo "install: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
CONSTRAINTS=constraints.txt
PIP=("$VPY" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS")

echo "install: Python packages (exact versions from $CONSTRAINTS)"
# torch first and alone: with the pin it takes the CPU wheel, never a multi-GB CUDA build.
"${PIP[@]}" setuptools wheel torch
"${PIP[@]}" numpy $TVM_RUNTIME_DEPS xgboost zigzag-dse six matplotlib hypothesis pyyaml

# hhb-tvm ships only a cp310 wheel; it runs on 3.11 through TVM's ctypes FFI fallback.
# --no-deps keeps pip from pulling PyPI's apache-tvm (no AutoTVM) over it.
HHB_TVM_VERSION=$(sed -n 's/^hhb-tvm==//p' "$CONSTRAINTS")
[ -n "$HHB_TVM_VERSION" ] || { echo "install: $CONSTRAINTS has no hhb-tvm==VERSION line" >&2; exit 1; }
TVM_DIR="$VENV/tvm-fork"
if [ ! -f "$TVM_DIR/.hhb-tvm-$HHB_TVM_VERSION" ]; then
  echo "install: hhb-tvm==$HHB_TVM_VERSION into $TVM_DIR"
  rm -rf "$TVM_DIR"
  "$VPY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$TVM_DIR" \
    --python-version 3.10 --only-binary=:all: "hhb-tvm==$HHB_TVM_VERSION"
  touch "$TVM_DIR/.hhb-tvm-$HHB_TVM_VERSION"
fi
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$(cd "$TVM_DIR" && pwd)" > "$SITE/hhb_tvm_fork.pth"

echo "install: patches to the installed TVM"
for p in patches/0*.patch; do
  if patch -p1 -d "$TVM_DIR" --dry-run -R -s -f < "$p" >/dev/null 2>&1; then
    echo "  already applied: $p"
  else
    patch -p1 -d "$TVM_DIR" -s -f --no-backup-if-mismatch < "$p" || { echo "install: FAILED to apply $p" >&2; exit 1; }
    echo "  applied: $p"
  fi
done

echo "install: tvm-arco-plugin (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e .

echo "install: self-check (real LocalBuilder + LocalRunner measurement)"
"$VPY" -m tvm_arco_plugin.selfcheck
