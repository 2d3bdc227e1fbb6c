"""Cloudflare API token permissions: those the stack grants, and those `pulumi up` needs.

Granted: the tokens the stack creates get permission groups looked up by name (never hard-coded
ids). One invoke of the provider's `getAccountApiTokenPermissionGroupsList` per stack returns every
group the account may grant; the stack then resolves the names it needs. A group Cloudflare has
renamed is listed with its older name as an alias.

Needed: DEPLOY_PERMISSIONS is the one list of what the deploying token must hold; the hint of a
failing Cloudflare API call and the table in docs/deploy-rules.md are both made from it
(`python -m infra.permissions` prints the table; a test keeps the page in step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

R2_ITEM_READ = "Workers R2 Storage Bucket Item Read"
R2_ITEM_WRITE = "Workers R2 Storage Bucket Item Write"
AI_GATEWAY_RUN = "AI Gateway Run"
AI_GATEWAY_READ = "AI Gateway Read"
BROWSER_RENDERING_EDIT = "Browser Rendering Edit"

# Names to try, in order, for each permission this stack grants.
ALIASES: Mapping[str, Sequence[str]] = {
    R2_ITEM_READ: (R2_ITEM_READ,),
    R2_ITEM_WRITE: (R2_ITEM_WRITE,),
    AI_GATEWAY_RUN: (AI_GATEWAY_RUN,),
    AI_GATEWAY_READ: (AI_GATEWAY_READ,),
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
    # Imported here: the dynamic providers import this module for DEPLOY_PERMISSIONS alone.
    import pulumi_cloudflare as cloudflare

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


@dataclass(frozen=True)
class DeployPermission:
    """One permission the `pulumi up` token needs: its name in the token builder, on what, why."""

    name: str
    scope: str
    why: str


ACCOUNT = "account"
AGENT_ZONE = "the agent's zone, only with `hostname`"
EMAIL_ZONE = "the agent's zone, only with `emailAddress`"

DEPLOY_PERMISSIONS: tuple[DeployPermission, ...] = (
    DeployPermission(
        "Workers Scripts: Edit",
        ACCOUNT,
        "the Worker, its versions and deployment, the upload that provisions new Durable Object "
        "classes, the cron trigger, the workers.dev subdomain; listing the account's Workers "
        "(which classes already exist)",
    ),
    DeployPermission("Workers R2 Storage: Edit", ACCOUNT, "the bucket and its lifecycle rules"),
    DeployPermission("AI Gateway: Edit", ACCOUNT, "the gateway"),
    DeployPermission(
        "Access: Apps and Policies: Edit",
        ACCOUNT,
        "the Access applications and reusable policies",
    ),
    DeployPermission("Access: Service Tokens: Edit", ACCOUNT, "the automation service token"),
    DeployPermission(
        "Account API Tokens: Edit",
        ACCOUNT,
        "creating the four scoped tokens; looking up permission groups (Edit includes Read)",
    ),
    DeployPermission(
        "Containers: Edit",
        ACCOUNT,
        "the sandbox container application and the registry push credentials",
    ),
    DeployPermission("Workers Routes: Edit", AGENT_ZONE, "the custom domain"),
    # The Email Routing API's accepted permissions (pulumi-cloudflare EmailRoutingRule and
    # EmailRoutingDns: "Email Routing Rules Write", "Zone Settings Write").
    DeployPermission("Email Routing Rules: Edit", EMAIL_ZONE, "the rule routing the address"),
    DeployPermission("Zone Settings: Edit", EMAIL_ZONE, "turning Email Routing on (its DNS)"),
)


def render_table(permissions: Sequence[DeployPermission] = DEPLOY_PERMISSIONS) -> str:
    """The Markdown table of docs/deploy-rules.md."""
    lines = ["| permission | on | why |", "| --- | --- | --- |"]
    lines += [f"| {p.name} | {p.scope} | {p.why} |" for p in permissions]
    return "\n".join(lines) + "\n"


def deploy_hint(permissions: Sequence[DeployPermission] = DEPLOY_PERMISSIONS) -> str:
    """One sentence naming every permission the deploying token needs."""
    on_account = [p.name for p in permissions if p.scope == ACCOUNT]
    elsewhere = [f"{p.name} ({p.scope})" for p in permissions if p.scope != ACCOUNT]
    return (
        "the deploying API token needs, on this account: "
        + ", ".join(on_account)
        + ("; and " + ", ".join(elsewhere) if elsewhere else "")
        + " (docs/deploy-rules.md)"
    )


if __name__ == "__main__":
    print(render_table(), end="")
