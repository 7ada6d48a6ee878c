"""The OPC UA server (``[opcua]``): one variable per signal, its StatusCode from the quality.

asyncua runs in the gateway's event loop. The address space: under Objects,
one object per enabled device (browse name = device alias), holding one
variable per enabled signal (node id ``ns=<urn:obisgate>;s=<device>.<signal>``)
and the string variable ``_status``. Values carry the reading's time as
SourceTimestamp; StatusCodes are decided in
:mod:`obisgate.gateway.outputs.opcua.mapping`. Variables are read-only for
clients. The endpoint has no security (anonymous, unencrypted).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from obisgate.errors import TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.library_logs import quiet_library
from obisgate.gateway.outputs.listen import split_listen
from obisgate.gateway.outputs.opcua.mapping import (
    ENDPOINT_PATH,
    NAMESPACE,
    STATUS,
    status_name,
    variant_kind,
    variant_value,
)
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.opcua.config import OpcUaConfig

__all__ = ["ENDPOINT_PATH", "NAMESPACE", "OpcUaOutput", "create"]

_LOGGER = logging.getLogger(__name__)


def create(config: GatewayConfig, section: OpcUaConfig, context: OutputContext) -> Output:
    """The OPC UA output of ``section``, serving the configuration's signals.

    Raises:
        ConfigError: the extra ``obisgate[opcua]`` (asyncua) is not installed.
    """
    del context
    require_extra("asyncua", "opcua", "opcua")
    variables: dict[str, list[tuple[str, str]]] = {}
    for device in config.enabled_devices:
        rows = [
            (s.signal_alias, variant_kind(s.number_type))
            for s in config.signals_for(device.device_alias)
        ]
        variables[device.device_alias] = [*rows, (STATUS_SIGNAL, "String")]
    return OpcUaOutput(section, variables)


def quiet_opcua_logs() -> None:
    """Unless ``-vv``: only asyncua's errors, without the known, expected records.

    Dropped: the "no signing/encrypting policy" warnings (the endpoint has no
    security by design) and asyncua's "error starting server" traceback
    (obisgate reports a failed start in one line).
    """
    quiet_library(
        "asyncua",
        drop={
            "asyncua.server.server": (
                "error starting server",
                "No signing policy available",
                "No encrypting policy available",
            )
        },
    )


class OpcUaOutput(Output):
    """An OPC UA server with one variable per signal.

    Args:
        section: the ``[opcua]`` section.
        variables: device alias -> ``(signal alias, variant kind)`` of each variable.
    """

    name = "opcua"

    def __init__(self, section: OpcUaConfig, variables: dict[str, list[tuple[str, str]]]) -> None:
        self.section = section
        self.variables = variables
        #: The port listened on, once started (``listen`` may ask for any free one).
        self.port: int | None = None
        self.namespace_index: int | None = None
        self.writes = 0
        self._server: Any = None
        self._nodes: dict[tuple[str, str], tuple[Any, str]] = {}
        self._health = HealthRecord()

    @property
    def endpoint(self) -> str:
        """``opc.tcp://HOST:PORT/obisgate/`` with the real port (after :meth:`start`)."""
        host, port = split_listen(self.section.listen)
        shown = f"[{host}]" if ":" in host else host
        return f"opc.tcp://{shown}:{self.port or port}{ENDPOINT_PATH}"

    async def start(self) -> None:
        """Build the address space, listen, and log ``opcua listening on opc.tcp://...``.

        asyncua's own log records are quieted (see :func:`quiet_opcua_logs`);
        a failed start stops what was set up.

        Raises:
            TransportError: the address cannot be bound; one line
                ``opcua cannot listen on HOST:PORT: REASON``.
        """
        asyncua = require_extra("asyncua", "opcua", "opcua")
        quiet_opcua_logs()
        host, port = split_listen(self.section.listen)
        server = asyncua.Server()
        try:
            await self._serve(server, asyncua.ua, host, port)
        except BaseException as exc:
            self._nodes.clear()
            with contextlib.suppress(Exception):
                await server.stop()
            if isinstance(exc, OSError):
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                message = f"opcua cannot listen on {host}:{port}: {reason}"
                self._health.set(OutputState.OFF, message)
                raise TransportError(message) from None
            self._health.set(OutputState.OFF, f"{type(exc).__name__}: {exc}")
            raise
        self._server = server
        if warning := self.section.exposure_warning():
            _LOGGER.warning(warning)
        # BinaryServer.port is the bound port (it replaces 0 by the real one).
        self.port = int(server.bserver.port)
        self._health.set(OutputState.RUNNING)
        announce(f"opcua listening on {self.endpoint}")

    async def _serve(self, server: Any, ua: Any, host: str, port: int) -> None:
        """Build the address space of ``server`` and listen on ``host``:``port``."""
        await server.init()
        shown = f"[{host}]" if ":" in host else host
        server.set_endpoint(f"opc.tcp://{shown}:{port}{ENDPOINT_PATH}")
        server.set_server_name("obisgate")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(NAMESPACE)
        waiting = ua.StatusCode(STATUS["BadWaitingForInitialData"])
        for device, rows in self.variables.items():
            folder = await server.nodes.objects.add_object(index, device)
            for signal, kind in rows:
                variant_type = getattr(ua.VariantType, kind)
                initial = {"Double": 0.0, "Boolean": False, "String": ""}[kind]
                node = await folder.add_variable(
                    ua.NodeId(f"{device}.{signal}", index),
                    signal,
                    ua.Variant(initial, variant_type),
                )
                await server.write_attribute_value(
                    node.nodeid, ua.DataValue(ua.Variant(initial, variant_type), StatusCode=waiting)
                )
                self._nodes[(device, signal)] = (node, kind)
        await server.start()
        self.namespace_index = index

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Write every variable of the batch with its value, StatusCode and SourceTimestamp."""
        server = self._server
        if server is None:
            return
        ua = require_extra("asyncua", "opcua", "opcua").ua
        for update in updates:
            found = self._nodes.get((update.device, update.signal))
            if found is None:
                continue
            node, kind = found
            value = variant_value(kind, update.value)
            status = ua.StatusCode(STATUS[status_name(update)])
            if value is None:
                previous = await node.read_data_value(raise_on_bad_status=False)
                variant = previous.Value
            else:
                variant = ua.Variant(value, getattr(ua.VariantType, kind))
            await server.write_attribute_value(
                node.nodeid,
                ua.DataValue(variant, StatusCode=status, SourceTimestamp=update.time),
            )
            self.writes += 1

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """The endpoint, variables served, values written."""
        return self._health.health(
            address=self.endpoint,
            counters={"variables": len(self._nodes), "writes_total": self.writes},
        )

    async def aclose(self) -> None:
        """Stop the server and close client sessions."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            self._health.set(OutputState.CLOSED)
