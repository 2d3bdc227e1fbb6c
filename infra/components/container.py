"""Container: the sandbox image and the Containers application that runs it.

Owns the image built from `agent/Dockerfile` (target = the agent engine, `native` or
`openclaw`) for linux/amd64 and pushed to `registry.cloudflare.com/<account>/<name>:<content
tag>` (pulumi-docker-build), and the
container application bound to the Worker's `Sandbox` Durable Object class (the dynamic
provider in `infra.providers.container_application`), configured with the digest-pinned
reference so an unchanged build context changes nothing.

Does not own the Worker: the Worker's `WorkerVersion` must list the class in `containers` (that
entry makes the namespace container-enabled) and be deployed first, which is why `worker` is a
dependency of the application. Deleting the Worker does not delete the application; this
component's application is deleted explicitly, before the Worker, because it depends on it.

Why pulumi-docker-build and not the docker CLI: it authenticates to registry.cloudflare.com
with the `registries=[{address, username, password}]` the credentials API returns (both the
username and the password of that one call, as wrangler's `docker login` does), keeps them in
memory (no `docker login` into ~/.docker/config.json), and its diff ignores the password, so
the short-lived credential fetched on each `up` (see `infra.providers.registry`) causes no
diff. Both need a Docker engine where `pulumi up` runs; previews skip the build
(`build_on_preview=False`), so `pulumi preview` and `infra.plan` run without one.

The push must be what wrangler pushes (`docker build --platform linux/amd64
--provenance=false`): one linux/amd64 image manifest, no index. pulumi-docker-build has no
provenance input; its buildx path disables provenance (see `infra.providers.manifest`), so the
inputs here are one platform, `push=True` (a single registry export) and no `exports` or
`exec`. The application provider reads the pushed manifest back and stops if it is an index.

`pulumi refresh`: the image's stored registry password has expired by then. pulumi-docker-build
>= 0.0.21 keeps the image in state when the registry read fails for any reason but 404
(pulumi/pulumi-docker-build#930), and the application pins the digest in its own state, so a
refresh changes neither (docs/retention.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from infra.components.base import EdgeAgentComponent
from infra.paths import program_relative
from infra.providers.container_application import (
    ContainerApplication,
    ContainerApplicationArgs,
)
from infra.providers.registry import REGISTRY_HOST, content_tag, registry_login, repository


@dataclass(frozen=True, kw_only=True)
class ContainerArgs:
    account_id: str
    # The application's name; also the repository name under the account.
    app_name: str
    # The Worker whose Durable Object class the container backs, and a resource that completes
    # once its container-enabled version is deployed.
    script_name: pulumi.Input[str]
    worker: pulumi.Resource
    class_name: str = "Sandbox"
    instance_type: str = "standard-1"
    max_instances: int = 1
    rollout_step_percentage: int | None = None
    rollout_active_grace_period: int = 0
    logs_enabled: bool = True
    context: Path
    dockerfile: Path
    # Image variant = Dockerfile target: `native`, or `openclaw` with this pinned npm version.
    engine: str = "native"
    openclaw_version: str = "2026.9.6"
    # Placement boundary of the instances (the stack's storage jurisdiction); None = anywhere.
    jurisdiction: str | None = None
    # The stack's `cloudflare:apiToken` (secret); None = CLOUDFLARE_API_TOKEN.
    api_token: pulumi.Input[str] | None = None


class Container(EdgeAgentComponent):
    """Image + container application for one stack's sandbox."""

    image_ref: pulumi.Output[str]
    application_id: pulumi.Output[str]
    application_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ContainerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("Container", name, opts)
        repo = repository(args.account_id, args.app_name)
        tag = content_tag(args.context, args.dockerfile)
        build_args: dict[str, str] = {}
        if args.engine == "openclaw":
            tag = f"{tag}-openclaw-{args.openclaw_version}"
            build_args["OPENCLAW_VERSION"] = args.openclaw_version
        username, password = registry_login(args.account_id, args.api_token)

        image_name, image_opts = self.child("image")
        image = docker_build.Image(
            image_name,
            # Relative to where Pulumi runs the provider, never the checkout's absolute path.
            context={"location": program_relative(args.context)},
            dockerfile={"location": program_relative(args.dockerfile)},
            platforms=[docker_build.Platform.LINUX_AMD64],
            target=args.engine,
            build_args=build_args,
            tags=[f"{repo}:{tag}"],
            push=True,
            build_on_preview=False,
            registries=[{"address": REGISTRY_HOST, "username": username, "password": password}],
            opts=image_opts,
        )
        # Pin by digest: the tag is a label, the digest is what the platform pulls.
        pinned = image.digest.apply(lambda digest: f"{repo}@{digest}")

        app_name, app_opts = self.child("application", depends_on=[args.worker, image])
        application = ContainerApplication(
            app_name,
            ContainerApplicationArgs(
                account_id=args.account_id,
                name=args.app_name,
                script_name=args.script_name,
                class_name=args.class_name,
                image=pinned,
                instance_type=args.instance_type,
                max_instances=args.max_instances,
                rollout_step_percentage=args.rollout_step_percentage,
                rollout_active_grace_period=args.rollout_active_grace_period,
                logs_enabled=args.logs_enabled,
                jurisdiction=args.jurisdiction,
            ),
            opts=app_opts,
        )
        self.image_ref = pinned
        self.application_id = application.application_id
        self.application_name = application.name
        self.register_outputs(
            {
                "image_ref": self.image_ref,
                "application_id": self.application_id,
                "application_name": self.application_name,
            }
        )
