"""Configuration of the OPC UA server (``[opcua]``): where it listens.

The endpoint is ``opc.tcp://HOST:PORT/obisgate/``, without security (anonymous,
unencrypted): keep it on a trusted network (a non-loopback address is warned about).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from obisgate.gateway.outputs.listen import Listen, unauthenticated_warning

__all__ = ["OpcUaConfig"]


class OpcUaConfig(BaseModel):
    """The ``[opcua]`` section. Present = the output is on.

    Attributes:
        listen: ``HOST:PORT`` to serve on (port 0: any free port).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Listen = Field(
        default="127.0.0.1:4840",
        description="`HOST:PORT` to serve on (port 0 picks a free one); the endpoint is "
        "`opc.tcp://HOST:PORT/obisgate/` without security (anonymous, unencrypted): a "
        "non-loopback address is warned about.",
    )

    def exposure_warning(self) -> str | None:
        """The warning when :attr:`listen` is reachable from other machines, else ``None``."""
        return unauthenticated_warning(
            "opcua", self.listen, "the OPC UA endpoint has no security (anonymous, unencrypted)"
        )
