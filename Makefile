# Two commands on a fresh machine: `make run` and `make test`. Both create .venv from the
# committed lock on first use; nothing is resolved at setup time (--no-deps).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lock clean

$(STAMP): requirements.lock setup.py
	$(PYTHON) -m venv $(VENV)
	# tfx 1.16.0 declares Python <3.11 but runs on 3.11 (see README, "Dependencies").
	$(VENV)/bin/pip install --quiet --no-deps --ignore-requires-python -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m pipeline run

test: $(STAMP)
	$(PY) -m pytest

# Re-resolve the lock from requirements.in (needs uv: pip install uv). Not part of setup.
lock:
	uv pip compile --python-version 3.10 requirements.in -o requirements.lock

clean:
	rm -rf out .pytest_cache
