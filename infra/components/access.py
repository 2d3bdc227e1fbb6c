"""Access: Zero Trust in front of the agent's hostname.

Owns the Access application for the agent, a reusable allow policy built from exactly the
configured rules (emails, email domains, Access groups), a service token for automation with its
own `non_identity` policy, and -- only when a chat channel is configured -- a separate application
for `<host>/webhooks/*` whose single policy is a bypass (the edge verifies every webhook
signature itself). Exports the AUD tag and the team domain the Worker verifies JWTs against.
On a custom domain the application's destination is that hostname (`public`); on workers.dev it
is the Worker itself, by id (`worker`, and `preview_worker` for its preview URLs), the
destination type the Access API has for Workers.
It does not create identity providers or Access groups: those are referenced by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from infra.components.base import EdgeAgentComponent

WEBHOOK_PATH = "/webhooks/*"


@dataclass(frozen=True, kw_only=True)
class AccessArgs:
    account_id: str
    hostname: pulumi.Input[str]
    team_domain: str
    app_name: str
    webhooks_app_name: str
    allow_policy_name: str
    service_policy_name: str
    bypass_policy_name: str
    service_token_name: str
    # The Worker to protect by id on workers.dev; None on a custom domain (hostname destination).
    worker_id: pulumi.Input[str] | None = None
    allowed_emails: Sequence[str] = ()
    allowed_email_domains: Sequence[str] = ()
    access_group_ids: Sequence[str] = ()
    allowed_idp_ids: Sequence[str] = ()
    session_duration: str = "24h"
    service_token_duration: str = "8760h"  # noqa: S105 (a lifetime, not a secret)
    webhooks: bool = False


Destination = cloudflare.ZeroTrustAccessApplicationDestinationArgsDict


def destinations(args: AccessArgs) -> list[Destination]:
    """What the application protects: the Worker by id on workers.dev, else the hostname."""
    if args.worker_id is None:
        return [{"type": "public", "uri": args.hostname}]
    # Access API destinations: `worker` protects the Worker on workers.dev, `preview_worker`
    # its preview URLs, both by the Worker's id (`worker_id`); no hostname to keep in step.
    # https://developers.cloudflare.com/api/resources/zero_trust/subresources/access/subresources/applications/methods/create/
    # https://developers.cloudflare.com/workers/configuration/routing/workers-dev/#manage-access-to-workersdev
    return [
        {"type": "worker", "worker_id": args.worker_id},
        {"type": "preview_worker", "worker_id": args.worker_id},
    ]


def allow_includes(args: AccessArgs) -> list[cloudflare.ZeroTrustAccessPolicyIncludeArgsDict]:
    """Include rules of the allow policy: exactly the configured emails, domains and groups."""
    includes: list[cloudflare.ZeroTrustAccessPolicyIncludeArgsDict] = []
    includes += [{"email": {"email": email}} for email in args.allowed_emails]
    includes += [{"email_domain": {"domain": domain}} for domain in args.allowed_email_domains]
    includes += [{"group": {"id": group}} for group in args.access_group_ids]
    return includes


class Access(EdgeAgentComponent):
    """Access application(s), policies and automation service token for one stack."""

    aud: pulumi.Output[str]
    team_domain: pulumi.Output[str]
    service_token_client_id: pulumi.Output[str]
    service_token_client_secret: pulumi.Output[str]

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("Access", name, opts)
        account = args.account_id
        allow_name, allow_opts = self.child("allow-policy")
        allow = cloudflare.ZeroTrustAccessPolicy(
            allow_name,
            account_id=account,
            name=args.allow_policy_name,
            decision="allow",
            includes=allow_includes(args),
            session_duration=args.session_duration,
            opts=allow_opts,
        )
        token_name, token_opts = self.child("service-token")
        service_token = cloudflare.ZeroTrustAccessServiceToken(
            token_name,
            account_id=account,
            name=args.service_token_name,
            duration=args.service_token_duration,
            opts=token_opts,
        )
        service_name, service_opts = self.child("service-policy")
        service_policy = cloudflare.ZeroTrustAccessPolicy(
            service_name,
            account_id=account,
            name=args.service_policy_name,
            decision="non_identity",
            includes=[{"service_token": {"token_id": service_token.id}}],
            opts=service_opts,
        )
        app_name, app_opts = self.child("app")
        app = cloudflare.ZeroTrustAccessApplication(
            app_name,
            account_id=account,
            name=args.app_name,
            type="self_hosted",
            domain=args.hostname,
            destinations=destinations(args),
            session_duration=args.session_duration,
            allowed_idps=list(args.allowed_idp_ids) or None,
            auto_redirect_to_identity=len(args.allowed_idp_ids) == 1,
            app_launcher_visible=True,
            http_only_cookie_attribute=True,
            same_site_cookie_attribute="lax",
            service_auth401_redirect=True,
            policies=[
                {"id": allow.id, "precedence": 1},
                {"id": service_policy.id, "precedence": 2},
            ],
            opts=app_opts,
        )
        if args.webhooks:
            webhook_uri = pulumi.Output.concat(args.hostname, WEBHOOK_PATH)
            bypass_name, bypass_opts = self.child("webhooks-bypass-policy")
            bypass = cloudflare.ZeroTrustAccessPolicy(
                bypass_name,
                account_id=account,
                name=args.bypass_policy_name,
                decision="bypass",
                includes=[{"everyone": {}}],
                opts=bypass_opts,
            )
            webhooks_name, webhooks_opts = self.child("webhooks-app")
            cloudflare.ZeroTrustAccessApplication(
                webhooks_name,
                account_id=account,
                name=args.webhooks_app_name,
                type="self_hosted",
                domain=webhook_uri,
                destinations=[{"type": "public", "uri": webhook_uri}],
                app_launcher_visible=False,
                policies=[{"id": bypass.id, "precedence": 1}],
                opts=webhooks_opts,
            )
        self.aud = app.aud
        self.team_domain = pulumi.Output.from_input(args.team_domain)
        self.service_token_client_id = service_token.client_id
        self.service_token_client_secret = pulumi.Output.secret(service_token.client_secret)
        self.register_outputs(
            {
                "aud": self.aud,
                "team_domain": self.team_domain,
                "service_token_client_id": self.service_token_client_id,
                "service_token_client_secret": self.service_token_client_secret,
            }
        )
