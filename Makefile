# The README's two set-up commands: `make test` and `make run`. Nothing else is needed on a
# fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	scripts/ensure-chromium >/dev/null
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/optrack up

demo: $(STAMP)
	$(BIN)/python -m optim_core.demo

bench: $(STAMP)
	$(BIN)/python -m bench.optimizer_step
	$(BIN)/python -m bench.train_step
	$(BIN)/python -m bench.tracking
	$(BIN)/python -m bench.queue_bench
	scripts/ensure-chromium >/dev/null
	$(BIN)/python -m bench.dashboard

clean:
	rm -rf $(VENV) build *.egg-info
