# Thin targets; the real work lives in the Python modules and npm scripts they call.
# `make test` is the one test command (CI runs it through .ci/run); `make dev` is the main job.
# `make test-fast` is the inner loop while you work (docs/testing.md).
SHELL := /bin/bash
# uv runs every Python step. Where none is on PATH, the first make installs one into .tools/ (a venv
# of its own: no system or user Python is changed), so the two commands need only Python 3.11+.
UV_BOOTSTRAP := $(CURDIR)/.tools/bin/uv
UV ?= $(or $(shell command -v uv 2>/dev/null),$(UV_BOOTSTRAP))
STACK ?= dev
EDGE := agent/edge

.PHONY: setup setup-py setup-edge edge-build compile generate ui-vendor lint fmt typecheck test test-fast test-cost test-py test-edge plan verify dev bench image-size

setup: setup-py setup-edge

# Each install step runs only when its lockfile changed since the last run (a stamp file inside the
# installed tree, so deleting .venv or node_modules reinstalls): a second `make dev` installs nothing.
PY_STAMP := .venv/.edgeagent-synced
EDGE_STAMP := $(EDGE)/node_modules/.edgeagent-installed
EDGE_DIST := $(EDGE)/dist/index.js
EDGE_SRC := $(shell find $(EDGE)/src $(EDGE)/scripts -type f 2>/dev/null) $(EDGE)/wrangler.json

setup-py: $(PY_STAMP)

$(UV_BOOTSTRAP):
	@echo "setup: uv is not on PATH; installing it into .tools/ (python3 -m venv, then pip)..."
	@python3 -m venv .tools || { echo "setup: python3 -m venv failed; install uv yourself (pip install uv, or https://docs.astral.sh/uv/) and rerun" >&2; exit 1; }
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

# No --compile-bytecode: compiling all ~21,000 installed files took minutes on a 2-core machine;
# Python compiles what a command imports on first use, and `make plan` precompiles its own set.
$(PY_STAMP): uv.lock pyproject.toml | $(filter $(UV_BOOTSTRAP),$(UV))
	@echo "setup: installing the locked Python dependencies (uv sync)..."
	$(UV) sync --frozen
	@touch $@

setup-edge: $(EDGE_STAMP)

$(EDGE_STAMP): $(EDGE)/package-lock.json $(EDGE)/package.json
	@echo "setup: installing the Worker's locked npm tree (npm ci; about a minute the first time)..."
	npm ci --prefix $(EDGE) --no-audit --no-fund --loglevel=error
	@touch $@

edge-build: $(EDGE_DIST)

$(EDGE_DIST): $(EDGE_STAMP) $(EDGE_SRC)
	npm run --silent --prefix $(EDGE) build

# The web UI's browser modules (marked, DOMPurify): pinned by agent/ui-vendor/package-lock.json and
# copied into agent/runtime/ui/vendor/, where they are committed, so neither `make dev` nor the image
# build needs Node for them. `make ui-vendor` refreshes the copies after a change to the lockfile;
# tests/ui/test_ui_vendor.py checks they equal the installed packages' files (docs/ui.md).
UI_VENDOR := agent/ui-vendor
UI_VENDOR_STAMP := $(UI_VENDOR)/node_modules/.edgeagent-installed

$(UI_VENDOR_STAMP): $(UI_VENDOR)/package-lock.json $(UI_VENDOR)/package.json
	npm ci --prefix $(UI_VENDOR) --no-audit --no-fund --loglevel=error
	@touch $@

ui-vendor: $(UI_VENDOR_STAMP) setup-py
	$(UV) run python scripts/ui_vendor.py

# Byte-compile, in parallel and once per lockfile, only the files `make plan` and `make dev` import
# (~2,700 of ~21,000): without bytecode the plan misses its < 5 s goal and the runtime starts slower.
# The runtime imports its R2 client (boto3), the MCP SDK and a provider's model client (Anthropic,
# OpenAI: several seconds each to compile) only when configured: named here.
COMPILE_STAMP := .venv/.edgeagent-compiled
RUNTIME_LAZY := agent.runtime.store.r2 pydantic_ai.mcp pydantic_ai.models.anthropic \
	pydantic_ai.models.openai
COMPILE_MODULES := infra.program agent.runtime.__main__ agent.dev $(RUNTIME_LAZY)

compile: $(COMPILE_STAMP)

$(COMPILE_STAMP): $(PY_STAMP)
	$(UV) run --frozen python scripts/compile_imports.py $(COMPILE_MODULES)
	@touch $@

# The same plus what the tests import (moto, playwright, schemathesis, ...; ~1,000 more files):
# with PYTHONDONTWRITEBYTECODE set, every xdist worker and every runtime child recompiled them.
# One process does both sets (collecting the tests imports most of the program's anyway), so a
# fresh clone's tests wait for one pass instead of two in a row; it stamps both.
COMPILE_TESTS_STAMP := .venv/.edgeagent-compiled-tests

$(COMPILE_TESTS_STAMP): $(PY_STAMP)
	$(UV) run --frozen python scripts/compile_imports.py --collect tests $(COMPILE_MODULES)
	@touch $(COMPILE_STAMP) $@

# Rewrite what is generated from the setting declarations (docs/contract.md, "Adding a setting");
# tests/contract fails, naming this target, when a committed generated file is stale.
generate: setup-py
	$(UV) run python -m agent.contract.generate
	$(UV) run python -m infra.config_reference --write

lint: setup-py
	$(UV) run ruff check .
	$(UV) run ruff format --check .

fmt: setup-py
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# mypy's cache is shared by every checkout on the machine, as uv's and npm's are: a new clone or
# worktree analysed every installed package again (~33 s of CPU), with the shared cache ~1 s. mypy
# reuses a module's entry only when the source's hash and mypy's version and options match, so each
# checkout still gets its own results (tests/dev/test_make_mypy_cache.py checks two checkouts).
MYPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/edgeagent/mypy

typecheck: setup-py
	$(UV) run mypy --cache-dir "$(MYPY_CACHE)"

test-edge: edge-build
	npm run --prefix $(EDGE) typecheck
	npm test --prefix $(EDGE)

# The Python suites run in parallel (pytest-xdist), a test file per worker so module fixtures (a
# wrangler dev, a Chromium) start once. Most tests wait on sockets and child processes, so more
# workers than cores pays on a 2-core machine. docs/testing.md says more.
PYTEST_WORKERS ?= 4
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

# pytest rewrites the asserts of every test module and of every installed pytest plugin's package
# (hypothesis, schemathesis, ...: ~400 modules) and caches the result as bytecode, unless
# PYTHONDONTWRITEBYTECODE is set (as on this machine and in the image), when every xdist worker
# rewrote all of them again: ~9 s of CPU per worker. The test runs write bytecode (gitignored).
test-py test-fast test-cost: export PYTHONDONTWRITEBYTECODE :=

# Test temporary files in RAM where there is room (a private directory in /dev/shm; the system's
# temp dir otherwise): creating and deleting their many small files on disk was mostly kernel CPU.
# scripts/fast_tmpdir.py says more; `make test TEST_TMPDIR=/tmp` chooses another.
TEST_TMPDIR ?= $(shell python3 scripts/fast_tmpdir.py)
PYTEST = TMPDIR="$(TEST_TMPDIR)" $(UV) run pytest

test-py: setup-py $(COMPILE_TESTS_STAMP) edge-build $(UI_VENDOR_STAMP)
	scripts/ensure-chromium
	$(PYTEST) $(PYTEST_PARALLEL) --durations=15

# The inner loop (< 60 s): the Python suites without the `slow` tests (lifecycle, crash, browser
# and end-to-end runs), in parallel; no lint, types or Worker tests. `make test` before you push.
test-fast: setup-py $(COMPILE_TESTS_STAMP) edge-build
	$(PYTEST) $(PYTEST_PARALLEL) -m "not slow" -q

# What keeps test-fast fast: the 40 tests that used the most CPU, with those not marked slow that
# used over half a second flagged (tests/cost_report.py). SUITE=-m "not slow" for the fast set only.
SUITE ?=
test-cost: setup-py $(COMPILE_TESTS_STAMP) edge-build $(UI_VENDOR_STAMP)
	scripts/ensure-chromium
	$(PYTEST) $(PYTEST_PARALLEL) $(SUITE) -q --cpu-report 40

# Lint, types, the Worker's tests and the Python tests run side by side (-j): the Python suite
# waits on sockets and child processes much of the time, so mypy (~30 s cold) and the Worker's
# typecheck and tests (~1 min) fit beside it instead of before it. Each target's output is printed
# whole when it ends; any failure fails `make test`.
test:
	@$(MAKE) --no-print-directory -j 4 --output-sync=target lint typecheck test-edge test-py

plan: compile
	$(UV) run python -m infra.plan --stack $(STACK)

# After `pulumi up`: check the live stack from outside (docs/deploy.md). Needs the pulumi CLI,
# logged in to the stack's backend.
verify: setup-py
	$(UV) run python -m infra.verify --stack $(STACK)

dev: setup compile edge-build
	$(UV) run python -m agent.dev

bench: setup edge-build
	$(UV) run python -m bench

# The installed size of the runtime's dependency set (what the image's venv holds); goal < 150 MB.
image-size: setup-py
	$(UV) run python -m bench.image_size
