"""Top-level test setup shared by every suite (keep it tiny)."""

import os

import pytest
from hypothesis import settings

# Fails the run if a process a test started outlives the session (see process_guard.py).
from process_guard import (  # noqa: F401
    pytest_configure,
    pytest_sessionfinish,
    pytest_testnodedown,
)

# Longest work first over the xdist workers, shards of a long test apart (see scheduling.py).
from scheduling import pytest_collection_modifyitems, pytest_xdist_make_scheduler  # noqa: F401

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
