"""Top-level test setup shared by every suite (keep it tiny)."""

import gc
import os

import pytest
from hypothesis import settings

# The suite's own plugins (tests/): process_guard fails the run if a process a test started
# outlives the session; scheduling spreads the work over the xdist workers longest first;
# cost_report (`--cpu-report N`) lists the tests that used the most CPU.
pytest_plugins = ("process_guard", "scheduling", "cost_report")

# Property tests: bounded example counts, no wall-clock deadline (time is never asserted in tests,
# and the machine may be busy), no example database written into the checkout, and the same
# examples every run, so `make test` is reproducible; EDGEAGENT_FUZZ_EXPLORE=1 draws new ones.
settings.register_profile(
    "edgeagent",
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=os.environ.get("EDGEAGENT_FUZZ_EXPLORE") != "1",
)
settings.load_profile("edgeagent")

# Offline: Miniflare (under `wrangler dev` and `make dev`) fetches https://workers.cloudflare.com/
# cf.json for `request.cf` whenever its cache is missing, as on every fresh clone. Cloudflare's
# documented switch turns that off, and every child a test starts inherits it
# (https://developers.cloudflare.com/workers/wrangler/system-environment-variables/).
os.environ["CLOUDFLARE_CF_FETCH_ENABLED"] = "false"


def pytest_configure(config: pytest.Config) -> None:
    """No cyclic garbage collection while the test modules import (thousands of modules:
    pulumi_cloudflare, pydantic-ai, the SDKs); see pytest_collection_finish. Not in an xdist
    controller, which collects nothing."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        gc.disable()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported lives as long as the process: gc.freeze() puts it out of the
    collector's sight, so each full collection during the tests scans only what the tests made.
    Every xdist worker collects the whole suite, so this is paid per worker: about 2 s of CPU for
    the collections while importing and a third of those during the tests."""
    gc.freeze()
    gc.enable()


@pytest.fixture(autouse=True, scope="session")
def no_real_model_requests() -> None:
    """No test in any suite may reach a real model provider. A fixture, not an import here:
    pydantic-ai costs the xdist controller, which runs no test, most of a second at start."""
    import pydantic_ai.models

    pydantic_ai.models.ALLOW_MODEL_REQUESTS = False


@pytest.fixture
def anyio_backend() -> str:
    """Every async test runs on asyncio (the runtime's event loop)."""
    return "asyncio"
