"""Worker: the edge Worker that fronts the agent, uploaded as a version and deployed.

Owns the `Worker` (observability on; workers.dev on only when there is no custom domain, so the
hostname behind Access is the only way in), a `WorkerVersion` carrying the bundled modules from
`agent/edge/dist` (as its manifest lists them) and the bindings of docs/contract.md (a namespace
for every Durable Object class the manifest lists, each declared sqlite-backed in `exports`;
`plain_text` vars; `secret_text` for every secret), a `WorkersDeployment` routing all traffic to
that version, the cron trigger and the custom domain. `WorkerVersion` is the one provider
resource that can mark the sandbox class container-enabled: callers pass class names in
`containers` (the container application itself is another component's job).

Durable Object classes (docs/deploy-rules.md, "Durable Object classes"): a version that creates a
class cannot be uploaded, nor can one whose bindings name a class not yet provisioned. So when the
live Worker lacks a class of the bundle -- the first deploy, or a deploy that adds a class -- the
component first declares `<name>-provision`, a non-versioned deploy through the Script Upload API
(`WorkersScript`, what `wrangler deploy` sends for Workers with Durable Objects), and the version
follows it. Ordinary code changes keep version-then-deployment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from agent.contract.settings import local_only
from infra.components.base import EdgeAgentComponent
from infra.edge_bundle import EdgeBundle
from infra.errors import BuildError
from infra.paths import program_relative


@dataclass(frozen=True, kw_only=True)
class SendEmail:
    """A `send_email` binding: mail only from `sender`, only to `recipients`.

    Both restrictions are the binding's own (allowed_sender_addresses,
    allowed_destination_addresses: https://developers.cloudflare.com/email-service/configuration/send-bindings/),
    so even code running in the Worker cannot mail anyone else.
    """

    name: str
    sender: str
    recipients: Sequence[str]


WorkerIdVars = Callable[[pulumi.Output[str]], Mapping[str, pulumi.Input[str]]]
# Bindings that exist only for `wrangler dev`; deploying one would bypass the container/auth.
LOCAL_ONLY_BINDINGS = local_only()


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
    # Plain bindings that need the Worker's id (Access's AUD: its application protects the
    # Worker by id), called once the Worker is declared.
    plain_vars_for_worker: WorkerIdVars | None = None
    # The email channel's reply binding (infra/components/email.py routes mail in).
    send_email: SendEmail | None = None


def binding_name(class_name: str) -> str:
    """Binding of a Durable Object class: its UPPER_SNAKE name (`Sandbox` -> `SANDBOX`)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).upper()


# "Environment variables: 128/Worker" on Workers Paid (which Containers require), text and secret
# bindings counted together: https://developers.cloudflare.com/workers/platform/limits/#environment-variables
MAX_ENVIRONMENT_VARIABLES = 128


def bindings(
    args: WorkerArgs, plain_vars: Mapping[str, pulumi.Input[str]] | None = None
) -> list[cloudflare.WorkerVersionBindingArgsDict]:
    """Bindings: a namespace per Durable Object class, plain vars, secrets (each by name)."""
    plain_vars = args.plain_vars if plain_vars is None else plain_vars
    forbidden = LOCAL_ONLY_BINDINGS & (set(plain_vars) | set(args.secrets))
    if forbidden:
        raise ValueError(
            f"refusing to deploy local-development bindings {sorted(forbidden)}: they exist only "
            "for `wrangler dev` (docs/contract.md)"
        )
    overlap = set(plain_vars) & set(args.secrets)
    if overlap:
        raise ValueError(f"bindings {sorted(overlap)} are declared both plain and secret")
    variables = len(plain_vars) + len(args.secrets)
    if variables > MAX_ENVIRONMENT_VARIABLES:
        raise ValueError(
            f"the Worker would have {variables} environment variables (text and secret); "
            f"Cloudflare allows {MAX_ENVIRONMENT_VARIABLES} per Worker on Workers Paid: leave out "
            "settings that keep their default value"
        )
    result: list[cloudflare.WorkerVersionBindingArgsDict] = [
        {"name": binding_name(cls), "type": "durable_object_namespace", "class_name": cls}
        for cls in args.bundle.manifest.durable_object_classes
    ]
    result += [
        {"name": name, "type": "plain_text", "text": plain_vars[name]}
        for name in sorted(plain_vars)
    ]
    result += [
        {"name": name, "type": "secret_text", "text": pulumi.Output.secret(args.secrets[name])}
        for name in sorted(args.secrets)
    ]
    if args.send_email is not None:
        result.append(
            {
                "name": args.send_email.name,
                "type": "send_email",
                "allowed_sender_addresses": [args.send_email.sender],
                "allowed_destination_addresses": sorted(args.send_email.recipients),
            }
        )
    return result


# The provider's invoke behind `cloudflare.get_workers_scripts` (an RPC name, not a credential).
LIST_SCRIPTS_INVOKE = "cloudflare:index/getWorkersScripts:getWorkersScripts"


def live_classes(account_id: str, script_name: str) -> frozenset[str]:
    """Durable Object classes the live Worker already has (none when it does not exist yet).

    The scripts list reports each Worker's live `exports` (tombstones omitted), the
    declarative class lifecycle the versions carry; a Worker not in the list is a first deploy.
    """
    listed = cloudflare.get_workers_scripts(account_id=account_id)
    for script in listed.results or []:
        if script.id == script_name:
            exports: Mapping[str, Any] = script.exports or {}
            return frozenset(
                name
                for name, export in exports.items()
                if export is not None and export.type == "durable-object"
            )
    return frozenset()


def exports(classes: Sequence[str]) -> dict[str, cloudflare.WorkerVersionExportsArgsDict]:
    """Every class live and sqlite-backed: the declarative lifecycle, the same on every upload."""
    return {cls: {"type": "durable-object", "storage": "sqlite"} for cls in classes}


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
        worker_name, worker_opts = self.child("worker")
        observability: cloudflare.WorkerObservabilityArgsDict = {
            "enabled": True,
            "head_sampling_rate": 1,
            "logs": {"enabled": True, "invocation_logs": True, "head_sampling_rate": 1},
        }
        worker = cloudflare.Worker(
            worker_name,
            account_id=args.account_id,
            name=args.script_name,
            observability=observability,
            subdomain={"enabled": args.hostname is None, "previews_enabled": False},
            opts=worker_opts,
        )
        plain_vars = dict(args.plain_vars)
        if args.plain_vars_for_worker is not None:
            plain_vars.update(args.plain_vars_for_worker(worker.id))
        declared = bindings(args, plain_vars)
        classes = manifest.durable_object_classes
        main = next(m for m in args.bundle.modules if m.name == manifest.main_module)

        self.new_classes = sorted(set(classes) - live_classes(args.account_id, args.script_name))
        version_after: list[pulumi.Resource] = []
        if self.new_classes:
            # Creating a class is a Durable Object lifecycle change: a version carrying it cannot
            # be uploaded (error 10211), and a version binding a class declared in `exports` but
            # not yet provisioned is refused (100406); "apply the migration with a non-versioned
            # deploy" -- the Script Upload API, which wrangler deploy uses whenever a Worker has
            # Durable Object exports or containers (workers-sdk deploy-helpers deploy.ts,
            # canUseNewVersionsDeploymentsApi). It provisions and binds in one request.
            # https://developers.cloudflare.com/workers/versions-and-deployments/gradual-deployments/with-durable-objects/
            # https://developers.cloudflare.com/workers/platform/infrastructure-as-code/#considerations-with-durable-objects
            provision_name, provision_opts = self.child("provision", depends_on=[worker])
            provision = cloudflare.WorkersScript(
                provision_name,
                account_id=args.account_id,
                script_name=worker.name,
                main_module=manifest.main_module,
                content_file=program_relative(main.path),
                content_sha256=main.sha256,
                files={
                    m.name: {
                        "content_type": m.content_type,
                        "content_file": program_relative(m.path),
                        "content_sha256": m.sha256,
                    }
                    for m in args.bundle.modules
                    if m.name != manifest.main_module
                }
                or None,
                compatibility_date=manifest.compatibility_date,
                compatibility_flags=list(manifest.compatibility_flags),
                bindings=declared,  # type: ignore[arg-type]  # the same binding shapes
                exports=exports(classes),
                observability=observability,  # type: ignore[arg-type]
                # One-shot: the next deploy no longer declares it, and dropping it from the
                # program must never delete the Worker it uploaded to.
                opts=pulumi.ResourceOptions.merge(
                    provision_opts, pulumi.ResourceOptions(retain_on_delete=True)
                ),
            )
            version_after.append(provision)
        version_name, version_opts = self.child("version", depends_on=version_after)
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
                    # Relative to where Pulumi runs the provider, never the checkout's path.
                    "content_file": program_relative(module.path),
                    "content_sha256": module.sha256,
                }
                for module in args.bundle.modules
            ],
            bindings=declared,
            # Declarative class lifecycle, not a `migrations` tag list. Once every class is
            # provisioned (above, when one is new) the same `exports` is no lifecycle change and
            # the version uploads like any other.
            exports=exports(classes),
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
        self.deployment = deployment
        self.register_outputs({"script_name": self.script_name, "version_id": self.version_id})
