"""Email: Email Routing on the stack's zone, delivering the agent's address to the Worker.

Owns `EmailRoutingDns` (turns Email Routing on for the zone: "Add and lock the necessary MX and
SPF records", POST /zones/{zone}/email/routing/dns,
https://developers.cloudflare.com/api/resources/email_routing/subresources/dns/methods/create/)
and one `EmailRoutingRule`: a `literal` matcher on `to` = the agent's address with a `worker`
action naming the Worker, which then runs its `email` handler
(https://developers.cloudflare.com/email-routing/email-workers/). The rule follows the Worker's
deployment: a rule naming a Worker that is not yet deployed is refused.

Deliberately not owned: the Worker's `send_email` binding (the Worker component declares it,
restricted to this address and the allowlist), and destination-address verification. Replies
through `send_email` under Email Routing go only to verified destination addresses
(https://developers.cloudflare.com/email-routing/email-workers/send-email-workers/); verifying
one mails its owner a link to click, which no program can do for them (docs/channels.md).
Destroying the stack leaves Email Routing on: the zone may route other addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from infra.components.base import EdgeAgentComponent


@dataclass(frozen=True, kw_only=True)
class EmailArgs:
    zone_id: str
    address: str
    script_name: pulumi.Input[str]
    # The Worker's deployment: the rule is created once the Worker serves its `email` handler.
    after: Sequence[pulumi.Resource] = ()


class EmailRouting(EdgeAgentComponent):
    """Email Routing enabled on the zone and the agent's address routed to the Worker."""

    rule_id: pulumi.Output[str]

    def __init__(self, name: str, args: EmailArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("EmailRouting", name, opts)
        dns_name, dns_opts = self.child("dns")
        enabled = cloudflare.EmailRoutingDns(
            dns_name,
            zone_id=args.zone_id,
            # Deleting it disables Email Routing for the whole zone, other addresses included.
            opts=pulumi.ResourceOptions.merge(
                dns_opts, pulumi.ResourceOptions(retain_on_delete=True)
            ),
        )
        rule_name, rule_opts = self.child("rule", depends_on=[enabled, *args.after])
        rule = cloudflare.EmailRoutingRule(
            rule_name,
            zone_id=args.zone_id,
            name=f"edgeagent: {args.address} to the agent's Worker",
            enabled=True,
            matchers=[{"type": "literal", "field": "to", "value": args.address}],
            actions=[{"type": "worker", "values": [args.script_name]}],
            opts=rule_opts,
        )
        self.rule_id = rule.id
        self.register_outputs({"rule_id": self.rule_id})
