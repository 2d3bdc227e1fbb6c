"""Worker: the edge Worker that fronts the agent, uploaded as a version and deployed.

Owns the `Worker` (observability on; workers.dev on only when there is no custom domain, so the
hostname behind Access is the only way in), a `WorkerVersion` carrying the bundled modules from
`agent/edge/dist` (as its manifest lists them) and the bindings of docs/contract.md (a namespace
for every Durable Object class the manifest lists, each declared sqlite-backed in `exports`;
`plain_text` vars; `secret_text` for every secret), a `WorkersDeployment` routing all traffic to
that version, the cron trigger and the custom domain. `WorkerVersion` is the one provider
resource that can mark the sandbox class container-enabled: callers pass class names in
`containers` (the container application itself is another component's job).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from infra.components.base import EdgeAgentComponent
from infra.edge_bundle import EdgeBundle
from infra.errors import BuildError

# Bindings that exist only for `wrangler dev`; deploying either would bypass the container/auth.
LOCAL_ONLY_BINDINGS = frozenset({"AGENT_ORIGIN", "DEV_IDENTITY"})


@dataclass(frozen=True, kw_only=True)
class WorkerArgs:
    account_id: str
    script_name: str
    bundle: EdgeBundle
    plain_vars: Mapping[str, pulumi.Input[str]]
    secrets: Mapping[str, pulumi.Input[str]]
    cron: str
    hostname: str | None = None
    zone_id: str | None = None
    sandbox_class: str = "Sandbox"
    # Durable Object classes to make container-enabled (set by the container component).
    containers: Sequence[str] = ()


def binding_name(class_name: str) -> str:
    """Binding of a Durable Object class: its UPPER_SNAKE name (`Sandbox` -> `SANDBOX`)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).upper()


def bindings(args: WorkerArgs) -> list[cloudflare.WorkerVersionBindingArgsDict]:
    """Bindings: a namespace per Durable Object class, plain vars, secrets (each by name)."""
    forbidden = LOCAL_ONLY_BINDINGS & (set(args.plain_vars) | set(args.secrets))
    if forbidden:
        raise ValueError(
            f"refusing to deploy local-development bindings {sorted(forbidden)}: they exist only "
            "for `wrangler dev` (docs/contract.md)"
        )
    overlap = set(args.plain_vars) & set(args.secrets)
    if overlap:
        raise ValueError(f"bindings {sorted(overlap)} are declared both plain and secret")
    result: list[cloudflare.WorkerVersionBindingArgsDict] = [
        {"name": binding_name(cls), "type": "durable_object_namespace", "class_name": cls}
        for cls in args.bundle.manifest.durable_object_classes
    ]
    result += [
        {"name": name, "type": "plain_text", "text": args.plain_vars[name]}
        for name in sorted(args.plain_vars)
    ]
    result += [
        {"name": name, "type": "secret_text", "text": pulumi.Output.secret(args.secrets[name])}
        for name in sorted(args.secrets)
    ]
    return result


class EdgeWorker(EdgeAgentComponent):
    """Worker + version + deployment + cron + domain for one stack."""

    script_name: pulumi.Output[str]
    version_id: pulumi.Output[str]

    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("EdgeWorker", name, opts)
        manifest = args.bundle.manifest
        if args.sandbox_class not in manifest.durable_object_classes:
            raise BuildError(
                "the edge bundle exports Durable Object classes "
                f"{manifest.durable_object_classes}, "
                f"not {args.sandbox_class!r} (docs/contract.md)"
            )
        declared = bindings(args)
        worker_name, worker_opts = self.child("worker")
        worker = cloudflare.Worker(
            worker_name,
            account_id=args.account_id,
            name=args.script_name,
            observability={
                "enabled": True,
                "head_sampling_rate": 1,
                "logs": {"enabled": True, "invocation_logs": True, "head_sampling_rate": 1},
            },
            subdomain={"enabled": args.hostname is None, "previews_enabled": False},
            opts=worker_opts,
        )
        version_name, version_opts = self.child("version")
        version = cloudflare.WorkerVersion(
            version_name,
            account_id=args.account_id,
            worker_id=worker.id,
            main_module=manifest.main_module,
            compatibility_date=manifest.compatibility_date,
            compatibility_flags=list(manifest.compatibility_flags),
            modules=[
                {
                    "name": module.name,
                    "content_type": module.content_type,
                    "content_file": str(module.path),
                    "content_sha256": module.sha256,
                }
                for module in args.bundle.modules
            ],
            bindings=declared,
            # Declarative class lifecycle, not a `migrations` tag list: the versions API refuses
            # a version carrying a not-yet-applied migration, and the same `exports` on every
            # version is idempotent (Cloudflare reconciles it with what exists).
            exports={
                cls: {"type": "durable-object", "storage": "sqlite"}
                for cls in manifest.durable_object_classes
            },
            containers=[{"class_name": c} for c in args.containers] or None,
            opts=version_opts,
        )
        deployment_name, deployment_opts = self.child("deployment")
        deployment = cloudflare.WorkersDeployment(
            deployment_name,
            account_id=args.account_id,
            script_name=worker.name,
            strategy="percentage",
            versions=[{"percentage": 100, "version_id": version.id}],
            opts=deployment_opts,
        )
        cron_name, cron_opts = self.child("cron", depends_on=[deployment])
        cloudflare.WorkersCronTrigger(
            cron_name,
            account_id=args.account_id,
            script_name=worker.name,
            schedules=[{"cron": args.cron}],
            opts=cron_opts,
        )
        if args.hostname is not None:
            domain_name, domain_opts = self.child("domain", depends_on=[deployment])
            cloudflare.WorkersCustomDomain(
                domain_name,
                account_id=args.account_id,
                hostname=args.hostname,
                service=worker.name,
                zone_id=args.zone_id,
                opts=domain_opts,
            )
        self.script_name = worker.name
        self.version_id = version.id
        self.register_outputs({"script_name": self.script_name, "version_id": self.version_id})
