"""Storage: the tenant's private R2 bucket, its lifecycle, and S3 credentials for that bucket only.

Owns the bucket, its lifecycle rules (abort stale multipart uploads; expire old backups) and an
account token whose single policy grants object read and write on exactly this bucket. Derives
the S3 credentials R2 accepts (key id = token id, secret = sha256 hex of the token value) as
secret outputs. Declares no public access of any kind
(no r2.dev domain, no custom domain): the state is reachable only with those credentials.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from infra import permissions
from infra.components.base import EdgeAgentComponent

ABORT_MULTIPART_AFTER_S = 7 * 86400
# No lifecycle rule for the runtime's chat records (`channels/events/`, `outbox/messages/`): a
# rule matches a key prefix and an age only
# (https://developers.cloudflare.com/r2/buckets/object-lifecycles/), so it would also delete a
# message still pending after a long sleep, and it cannot reach the per-user subtrees
# (`users/<id>/...`). The runtime expires finished records itself after
# `channelRecordRetentionDays` (agent/runtime/retention.py, docs/retention.md).


@dataclass(frozen=True, kw_only=True)
class StorageArgs:
    account_id: str
    bucket_name: str
    jurisdiction: str
    location: str | None
    backup_retention_days: int
    token_name: str
    permission_ids: pulumi.Output[dict[str, str]]


def r2_endpoint(account_id: str, jurisdiction: str) -> str:
    """S3 endpoint of the account's R2, per jurisdiction (`.eu.`, `.fedramp.`)."""
    infix = "" if jurisdiction == "default" else f".{jurisdiction}"
    return f"https://{account_id}{infix}.r2.cloudflarestorage.com"


def _expire(rule_id: str, prefix: str, days: int) -> cloudflare.R2BucketLifecycleRuleArgsDict:
    """A rule deleting objects under `prefix` once they are `days` old (since last written)."""
    return {
        "id": rule_id,
        "enabled": True,
        "conditions": {"prefix": prefix},
        "delete_objects_transition": {"condition": {"type": "Age", "max_age": days * 86400}},
    }


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Storage(EdgeAgentComponent):
    """R2 bucket + lifecycle + bucket-scoped token for one stack."""

    bucket_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("Storage", name, opts)
        bucket_name, bucket_opts = self.child("bucket")
        bucket = cloudflare.R2Bucket(
            bucket_name,
            account_id=args.account_id,
            name=args.bucket_name,
            jurisdiction=args.jurisdiction,
            location=args.location,
            storage_class="Standard",
            opts=bucket_opts,
        )
        lifecycle_name, lifecycle_opts = self.child("lifecycle")
        cloudflare.R2BucketLifecycle(
            lifecycle_name,
            account_id=args.account_id,
            bucket_name=bucket.name,
            jurisdiction=args.jurisdiction,
            rules=[
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "enabled": True,
                    "conditions": {"prefix": ""},
                    "abort_multipart_uploads_transition": {
                        "condition": {"type": "Age", "max_age": ABORT_MULTIPART_AFTER_S}
                    },
                },
                _expire("expire-old-backups", "backups/", args.backup_retention_days),
            ],
            opts=lifecycle_opts,
        )
        token = self.account_token(
            "token",
            account_id=args.account_id,
            name=args.token_name,
            permission_ids=args.permission_ids,
            permissions=[permissions.R2_ITEM_READ, permissions.R2_ITEM_WRITE],
            resource=permissions.r2_bucket_resource(
                args.account_id, args.jurisdiction, args.bucket_name
            ),
            depends_on=[bucket],
        )
        self.bucket_name = bucket.name
        self.endpoint = pulumi.Output.from_input(r2_endpoint(args.account_id, args.jurisdiction))
        self.access_key_id = pulumi.Output.secret(token.id)
        self.secret_access_key = pulumi.Output.secret(token.value.apply(_sha256_hex))
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "endpoint": self.endpoint,
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
            }
        )
