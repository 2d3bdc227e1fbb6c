"""Cloudflare API token permission groups, looked up by name (never hard-coded ids).

One invoke of the provider's `getAccountApiTokenPermissionGroupsList` per stack returns every
group the account may grant; the stack then resolves the names it needs. A group Cloudflare has
renamed is listed with its older name as an alias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_cloudflare as cloudflare

R2_ITEM_READ = "Workers R2 Storage Bucket Item Read"
R2_ITEM_WRITE = "Workers R2 Storage Bucket Item Write"
AI_GATEWAY_RUN = "AI Gateway Run"
BROWSER_RENDERING_EDIT = "Browser Rendering Edit"

# Names to try, in order, for each permission this stack grants.
ALIASES: Mapping[str, Sequence[str]] = {
    R2_ITEM_READ: (R2_ITEM_READ,),
    R2_ITEM_WRITE: (R2_ITEM_WRITE,),
    AI_GATEWAY_RUN: (AI_GATEWAY_RUN,),
    BROWSER_RENDERING_EDIT: (BROWSER_RENDERING_EDIT, "Browser Run Edit"),
}

PermissionIds = Mapping[str, str]


def resolve(groups: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Map each needed permission to its group id; fail naming every permission not found."""
    by_name = {group["name"]: group["id"] for group in groups}
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for permission, names in ALIASES.items():
        found = next((by_name[name] for name in names if name in by_name), None)
        if found is None:
            missing.append(permission)
        else:
            resolved[permission] = found
    if missing:
        raise ValueError(
            "the account offers no API token permission group named "
            + ", ".join(repr(name) for name in missing)
            + "; check the names in infra/permissions.py against "
            "GET /accounts/{account_id}/tokens/permission_groups"
        )
    return resolved


def lookup(
    account_id: str, opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Output[dict[str, str]]:
    """Permission group ids of the account, keyed by the names in ALIASES."""
    result = cloudflare.get_account_api_token_permission_groups_list_output(
        account_id=account_id, opts=opts
    )
    return result.results.apply(
        lambda groups: resolve([{"name": g.name, "id": g.id} for g in groups])
    )


def account_resource(account_id: str) -> str:
    """Token policy resource key for the whole account."""
    return f"com.cloudflare.api.account.{account_id}"


def r2_bucket_resource(account_id: str, jurisdiction: str, bucket: str) -> str:
    """Token policy resource key for exactly one R2 bucket."""
    return f"com.cloudflare.edge.r2.bucket.{account_id}_{jurisdiction}_{bucket}"
