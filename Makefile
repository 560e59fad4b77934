# The README's two commands: `make demo` (the main job) and `make test`; each installs first.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: install demo test test-all clean install-ms demo-ms test-ms

$(STAMP): scripts/install.sh scripts/versions.env constraints.txt setup.cfg setup.py $(wildcard patches/*.patch)
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tvm_arco_plugin.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --ignore=tests/metaschedule tests

# Everything, the long end-to-end runs (marked slow) included.
test-all: $(STAMP)
	$(PY) -m pytest -q --ignore=tests/metaschedule tests

# MetaSchedule (apache-tvm 0.27) in its own environment: the two TVMs cannot share one.
VENV_MS := .venv-ms
PY_MS := $(VENV_MS)/bin/python
STAMP_MS := $(VENV_MS)/.installed

$(STAMP_MS): scripts/install_ms.sh scripts/versions.env constraints-ms.txt setup.cfg setup.py
	bash scripts/install_ms.sh
	touch $(STAMP_MS)

install-ms: $(STAMP_MS)

demo-ms: $(STAMP_MS)
	$(PY_MS) -m tvm_arco_plugin.metaschedule.demo $(DEMO_ARGS)

# --confcutdir: tests/conftest.py belongs to the AutoTVM side and imports tvm.autotvm. -p no:logging: pytest's
# log capture adds an unnamed handler, and tune_tir's logging set-up then fails on it (docs/metaschedule.md).
test-ms: $(STAMP_MS)
	$(PY_MS) -m pytest -q -p no:logging --confcutdir=tests/metaschedule tests/metaschedule

clean:
	rm -rf $(VENV) $(VENV_MS) out
