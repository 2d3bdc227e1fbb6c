# Thin targets; the real work lives in the Python modules and npm scripts they call.
# `make test` is the one test command (CI runs it through .ci/run); `make dev` is the main job.
SHELL := /bin/bash
UV ?= uv
STACK ?= dev
EDGE := agent/edge

.PHONY: setup setup-py setup-edge edge-build lint fmt typecheck test test-py test-edge plan verify dev bench

setup: setup-py setup-edge

setup-py:
	$(UV) sync --frozen --compile-bytecode

setup-edge:
	npm ci --prefix $(EDGE) --no-audit --no-fund

edge-build: setup-edge
	npm run --prefix $(EDGE) build

lint: setup-py
	$(UV) run ruff check .
	$(UV) run ruff format --check .

fmt: setup-py
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

typecheck: setup-py
	$(UV) run mypy

test-edge: edge-build
	npm run --prefix $(EDGE) typecheck
	npm test --prefix $(EDGE)

test-py: setup-py edge-build
	scripts/ensure-chromium
	$(UV) run pytest

test: lint typecheck test-edge test-py

plan: setup-py
	$(UV) run python -m infra.plan --stack $(STACK)

# After `pulumi up`: check the live stack from outside (docs/deploy.md). Needs the pulumi CLI,
# logged in to the stack's backend.
verify: setup-py
	$(UV) run python -m infra.verify --stack $(STACK)

dev: setup edge-build
	$(UV) run python -m agent.dev

bench: setup edge-build
	$(UV) run python -m bench
