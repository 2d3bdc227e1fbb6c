"""The one helper every edgeagent component uses to name and parent its children."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


class EdgeAgentComponent(pulumi.ComponentResource):
    """A ComponentResource of type `edgeagent:index:<kind>` whose children are `<name>-<role>`."""

    def __init__(self, kind: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"edgeagent:index:{kind}", name, None, opts)
        self.component_name = name

    def child(
        self, role: str, *, depends_on: Sequence[pulumi.Resource] = ()
    ) -> tuple[str, pulumi.ResourceOptions]:
        """Logical name and options for a child resource with the given role."""
        return f"{self.component_name}-{role}", pulumi.ResourceOptions(
            parent=self, depends_on=list(depends_on)
        )
