"""R2 backend through its S3 API (boto3), with S3 conditional writes.

R2 honours `If-None-Match: *` and `If-Match: <etag>` on PutObject; a lost race is HTTP 412
`PreconditionFailed` (or 409 `ConditionalRequestConflict` while another conditional write to the
same key is in flight), both surfaced as `PreconditionFailed`. boto3 is synchronous, so calls run
in worker threads; one client is shared (boto3 clients are thread-safe).
"""

from __future__ import annotations

import asyncio
import builtins
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from agent.runtime.errors import PreconditionFailed, StoreError
from agent.runtime.store.base import ObjectInfo, StoredObject, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class R2Store:
    """A StateStore in an S3-compatible bucket."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        region: str = "auto",
        prefix: str = "",
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix
        self._endpoint = endpoint
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=Config(
                connect_timeout=3,
                read_timeout=15,
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=32,
                # R2 rejects the newer default CRC checksum trailers on some paths; send only
                # when required.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _full(self, key: str) -> str:
        return check_key(self._prefix + key)

    def _fail(self, action: str, key: str, error: Exception) -> StoreError:
        # Never echo credentials: botocore messages carry the operation and code only.
        return StoreError(f"R2 {action} of {key!r} in bucket {self._bucket!r} failed: {error}")

    async def get(self, key: str) -> StoredObject | None:
        """The object, or None."""
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> StoredObject | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._full(key))
            body = response["Body"].read()
        except ClientError as error:
            if _code(error) in _MISSING_CODES:
                return None
            raise self._fail("read", key, error) from None
        except BotoCoreError as error:
            raise self._fail("read", key, error) from None
        return StoredObject(key, body, response["ETag"])

    async def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write durably (R2 acknowledges only stored objects); conditional as documented."""
        return await asyncio.to_thread(self._put, key, body, if_none_match, if_match)

    def _put(self, key: str, body: bytes, if_none_match: bool, if_match: str | None) -> str:
        extra: dict[str, Any] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = if_match
        try:
            response = self._client.put_object(
                Bucket=self._bucket, Key=self._full(key), Body=body, **extra
            )
        except ClientError as error:
            code = _code(error)
            # S3 answers If-Match on a missing key with NoSuchKey: the version read is gone.
            if code in _CONFLICT_CODES or (if_match is not None and code in _MISSING_CODES):
                raise PreconditionFailed(key) from None
            raise self._fail("write", key, error) from None
        except BotoCoreError as error:
            raise self._fail("write", key, error) from None
        return response["ETag"]

    async def list(
        self, prefix: str, *, start_after: str | None = None, max_keys: int | None = None
    ) -> list[ObjectInfo]:
        """Objects under `prefix`, in key order (S3 lists in UTF-8 binary order).

        R2's ListObjectsV2 supports `start-after` and `max-keys`
        (https://developers.cloudflare.com/r2/api/s3/api/), so one page costs one request.
        """
        return await asyncio.to_thread(self._list, prefix, start_after, max_keys)

    def _list(
        self, prefix: str, start_after: str | None, max_keys: int | None
    ) -> builtins.list[ObjectInfo]:
        found: builtins.list[ObjectInfo] = []
        strip = len(self._prefix)
        # ListObjectsV2 StartAfter / MaxKeys: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
        # (R2 supports both: https://developers.cloudflare.com/r2/api/s3/api/)
        extra: dict[str, Any] = {}
        if start_after is not None:
            extra["StartAfter"] = self._full(start_after)
        if max_keys is not None:
            extra["PaginationConfig"] = {"MaxItems": max_keys, "PageSize": min(max_keys, 1000)}
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix + prefix, **extra
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(item["Key"][strip:], item["ETag"], item["Size"]))
                    if max_keys is not None and len(found) >= max_keys:
                        return found
        except (ClientError, BotoCoreError) as error:
            raise self._fail("listing", prefix, error) from None
        return found[:max_keys] if max_keys is not None else found

    async def delete(self, key: str) -> None:
        """Remove the object if present."""
        try:
            await asyncio.to_thread(
                self._client.delete_object, Bucket=self._bucket, Key=self._full(key)
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail("delete", key, error) from None

    async def check(self) -> None:
        """One cheap authenticated call proves the endpoint, bucket and credentials."""
        try:
            await asyncio.to_thread(
                self._client.list_objects_v2, Bucket=self._bucket, Prefix=self._prefix, MaxKeys=1
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail("check", self._prefix or "/", error) from None

    async def flush(self) -> None:
        """Nothing is buffered: every put returned only once R2 stored it."""

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
