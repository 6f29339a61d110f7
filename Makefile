# Two commands on a fresh machine: `make run` and `make test`. Both create .venv from the
# committed lock on first use; nothing is resolved at setup time (--no-deps).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lock clean chromium minio bench image kfp-backend flink flink-up flink-down

$(STAMP): requirements.lock setup.py
	$(PYTHON) -m venv $(VENV)
	# tfx 1.16.0 declares Python <3.11 but runs on 3.11 (see README, "Dependencies").
	$(VENV)/bin/pip install --quiet --no-deps --ignore-requires-python -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m pipeline run

test: $(STAMP) chromium minio flink
	TFX_TOOLS_DIR=$(TOOLS_DIR) $(PY) -m pytest

# The reviewer report's browser tests open it in headless Chromium (Debian's package;
# CI runs as root on a fresh Debian 12). Installed once, skipped when present.
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# MinIO's server, the object store the Kubeflow replay runs against (open-source Kubeflow's
# default artifact store). Built once from the Go module proxy (a few minutes; needs Go) into
# a folder outside the checkout, so every clone shares it. AGPL: a test tool, never in the image.
TOOLS_DIR ?= $(HOME)/.cache/tfx-on-kubeflow
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_STAMP := $(TOOLS_DIR)/bin/.minio-$(MINIO_VERSION)
minio: $(MINIO_STAMP)
$(MINIO_STAMP):
	@command -v go >/dev/null || (echo "make minio: Go is needed to build MinIO's server (go install)" && exit 1)
	mkdir -p $(TOOLS_DIR)/bin
	GOBIN=$(TOOLS_DIR)/bin GOFLAGS=-mod=mod go install github.com/minio/minio@$(MINIO_VERSION)
	touch $@

# Open-source KFP's own per-task programs (driver, launcher-v2) at 2.17.0 and 2.5.0, for
# `replay --real`. Built once from the Go module proxy through a throwaway wrapper module
# (kubeflow/replay/real/build_kfp.sh; ~10 minutes a version on 2 cores) into $(TOOLS_DIR)/kfp-<tag>;
# no KFP source or binary is kept in the checkout. One version: KFP_BACKENDS=2.17.0:4a3592cb2dd0.
# Not a step of `make test`: a module proxy may refuse github.com/kubeflow/pipelines (403), and
# the tests that need the programs skip, naming this target, when they are missing.
KFP_BACKENDS ?= 2.17.0:4a3592cb2dd0 2.5.0:d07cf1c7f9bd
kfp-backend:
	@for v in $(KFP_BACKENDS); do \
	  sh kubeflow/replay/real/build_kfp.sh $${v%%:*} $${v##*:} $(TOOLS_DIR)/kfp-$${v%%:*} || exit 1; \
	done

# A Flink standalone cluster for the flink-local Beam profile (pipeline/flink/): the
# distribution from the PyPI source distributions of apache-flink and apache-flink-libraries
# (files only; the package pins an older Beam), into $(TOOLS_DIR)/flink-<version>, and Beam's
# Flink job server (its runner's jars from Maven Central) beside it.
FLINK_VERSION := 1.19.0
FLINK_STAMP := $(TOOLS_DIR)/flink-$(FLINK_VERSION)/.installed
JOB_SERVER_DIR := $(TOOLS_DIR)/beam-flink-job-server-2.62.0
flink: $(FLINK_STAMP) $(JOB_SERVER_DIR)/.installed
$(JOB_SERVER_DIR)/.installed: pipeline/flink/job-server.pom.xml
	mvn -q -f pipeline/flink/job-server.pom.xml dependency:copy-dependencies \
	    -DincludeScope=runtime -DoutputDirectory=$(JOB_SERVER_DIR)
	touch $@
$(FLINK_STAMP):
	$(PYTHON) pipeline/flink/install.py $(TOOLS_DIR)/flink-$(FLINK_VERSION) $(FLINK_VERSION)
	touch $@

# Start and stop the local cluster (JobManager, two TaskManagers, Beam's job server and SDK
# worker pool); its configuration and logs go under the output root's flink/ folder.
flink-up: $(STAMP) flink
	TFX_TOOLS_DIR=$(TOOLS_DIR) $(PY) -m pipeline flink up
flink-down: $(STAMP)
	TFX_TOOLS_DIR=$(TOOLS_DIR) $(PY) -m pipeline flink down

# The Kubeflow pipeline image (needs a Docker engine; none runs on the CI machines).
IMAGE ?= $(shell sed -n 's/^  image: *\([^ #]*\).*/\1/p' config.yaml)
image:
	docker build -f kubeflow/Dockerfile -t $(IMAGE) .

# Benchmark suite: ours against the stock TFX component set at 344 (bundled), 10k, 200k and 1M
# rows, 3 repeats each; writes bench/RESULTS.md. Takes hours with the stock set at 1M rows.
# Narrow it with BENCH_ARGS, e.g. BENCH_ARGS="--sizes 10000,200000 --repeats 1".
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# Re-resolve the lock from requirements.in (needs uv: pip install uv). Not part of setup.
lock:
	uv pip compile --python-version 3.10 requirements.in -o requirements.lock

clean:
	rm -rf out .pytest_cache
