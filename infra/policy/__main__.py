"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack infra/policy`."""

from pulumi_policy import PolicyPack

from infra.policy.pack import ENFORCEMENT, PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=ENFORCEMENT)
