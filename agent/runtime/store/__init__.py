"""State store: the Protocol and its backends, chosen from settings in `open_store`."""

from __future__ import annotations

from typing import assert_never

from agent.runtime.settings import RuntimeSettings
from agent.runtime.store.base import ObjectInfo, StateStore, StoredObject, etag_of
from agent.runtime.store.local import LocalDirStore
from agent.runtime.store.periodic import PeriodicSyncStore

__all__ = ["ObjectInfo", "StateStore", "StoredObject", "etag_of", "open_store"]


def open_store(settings: RuntimeSettings) -> StateStore:
    """Build the configured backend (settings validation guarantees its variables are set)."""
    store: StateStore
    match settings.state_backend:
        case "local":
            store = LocalDirStore(settings.state_dir, prefix=settings.state_prefix)
        case "r2":
            from agent.runtime.store.r2 import R2Store  # boto3 import only when used

            assert settings.state_bucket is not None
            assert settings.state_endpoint is not None
            assert settings.state_access_key_id is not None
            assert settings.state_secret_access_key is not None
            store = R2Store(
                bucket=settings.state_bucket,
                endpoint=settings.state_endpoint,
                access_key_id=settings.state_access_key_id.get_secret_value(),
                secret_access_key=settings.state_secret_access_key.get_secret_value(),
                region=settings.state_region,
                prefix=settings.state_prefix,
            )
        case _:
            assert_never(settings.state_backend)
    match settings.state_sync_mode:
        case "write-through":
            return store
        case "periodic":
            return PeriodicSyncStore(store, settings.state_sync_interval_s)
        case _:
            assert_never(settings.state_sync_mode)
