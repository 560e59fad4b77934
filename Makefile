# The README's two commands: `make demo` (the main job) and `make test`; each installs first.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: install demo test test-all clean

$(STAMP): scripts/install.sh scripts/versions.env constraints.txt setup.cfg setup.py $(wildcard patches/*.patch)
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tvm_arco_plugin.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# Everything, the long end-to-end runs (marked slow) included.
test-all: $(STAMP)
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) out
