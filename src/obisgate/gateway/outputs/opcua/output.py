"""The OPC UA server (``[opcua]``): one variable per signal, its StatusCode from the quality.

asyncua runs in the gateway's event loop. The address space: under Objects,
one object per enabled device (browse name = device alias), holding one
variable per enabled signal (node id ``ns=<urn:obisgate>;s=<device>.<signal>``,
description = the signal's description, else its name; a number with a unit
is an ``AnalogUnitType`` with its ``EngineeringUnits``) and the string variable
``_status``. Every value carries the reading's time as SourceTimestamp and the
time it was written as ServerTimestamp; StatusCodes are decided in
:mod:`obisgate.gateway.outputs.opcua.mapping`. Variables are read-only for
clients.

Security (see :mod:`obisgate.gateway.outputs.opcua.config`): the ``None``
policy only without a users file, and then anonymous only (loopback); with
a users file only Basic256Sha256 Sign and SignAndEncrypt, user name login
checked by :class:`~obisgate.gateway.outputs.opcua.logins.Logins` (asyncua
would otherwise accept any user name and password). A refused login, a
malformed message or a failed request is one rate-limited line naming the
peer (:mod:`obisgate.gateway.outputs.opcua.peer_log`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obisgate.errors import ConfigError, TransportError
from obisgate.gateway.outputs.announce import announce
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.extras import require_extra
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.library_logs import quiet_library
from obisgate.gateway.outputs.listen import split_listen
from obisgate.gateway.outputs.opcua.certificate import application_uri
from obisgate.gateway.outputs.opcua.logins import Logins
from obisgate.gateway.outputs.opcua.mapping import (
    ENDPOINT_PATH,
    NAMESPACE,
    STATUS,
    status_name,
    variant_kind,
    variant_value,
)
from obisgate.gateway.outputs.opcua.peer_log import PeerRecords
from obisgate.gateway.outputs.opcua.units import UNECE_NAMESPACE, Unit, unit_of
from obisgate.gateway.outputs.opcua.users import load_users
from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.context import OutputContext
    from obisgate.gateway.outputs.opcua.config import OpcUaConfig

__all__ = ["ENDPOINT_PATH", "NAMESPACE", "OpcUaOutput", "Variable", "create"]

_LOGGER = logging.getLogger(__name__)
#: The OPC UA types used (Part 6 node ids).
_ANALOG_UNIT_TYPE = 17497
_EU_INFORMATION = 887
_HAS_TYPE_DEFINITION = 40
_BASE_DATA_VARIABLE_TYPE = 63


@dataclass(frozen=True, slots=True)
class Variable:
    """One variable of the address space.

    Attributes:
        signal: the signal alias (browse and display name).
        kind: its variant type (``Double``, ``Boolean``, ``String``).
        description: the Description attribute.
        unit: the engineering unit, or ``None``.
    """

    signal: str
    kind: str
    description: str = ""
    unit: Unit | None = None


def create(config: GatewayConfig, section: OpcUaConfig, context: OutputContext) -> Output:
    """The OPC UA output of ``section``, serving the configuration's signals.

    Raises:
        ConfigError: the extra ``opcua`` (asyncua) is not installed.
    """
    del context
    require_extra("asyncua", "opcua", "opcua")
    variables: dict[str, list[Variable]] = {}
    for device in config.enabled_devices:
        rows = []
        for signal in config.signals_for(device.device_alias):
            kind = variant_kind(signal.number_type)
            rows.append(
                Variable(
                    signal.signal_alias,
                    kind,
                    signal.description or signal.signal_name or signal.signal_alias,
                    unit_of(signal.unit) if kind == "Double" else None,
                )
            )
        status = Variable(
            STATUS_SIGNAL, "String", f"status of the last readout of {device.device_alias}"
        )
        variables[device.device_alias] = [*rows, status]
    return OpcUaOutput(section, variables)


def quiet_opcua_logs() -> None:
    """Unless ``-vv``: only asyncua's errors, without the known, expected records.

    Dropped: the "no signing/encrypting policy" warnings (an endpoint without
    a certificate has no security by design) and asyncua's "error starting
    server" traceback (obisgate reports a failed start in one line).
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
        variables: device alias -> its variables.
        utc_now: the current time in UTC (the ServerTimestamp; injected by tests).
    """

    name = "opcua"

    def __init__(
        self,
        section: OpcUaConfig,
        variables: dict[str, list[Variable]],
        *,
        utc_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.section = section
        self.variables = variables
        #: The port listened on, once started (``listen`` may ask for any free one).
        self.port: int | None = None
        self.namespace_index: int | None = None
        self.writes = 0
        self.logins: Logins | None = None
        self.peer_errors = PeerErrorLog(_LOGGER, "opcua: refused")
        self._utc_now = utc_now
        self._peer_records = PeerRecords(self.peer_errors)
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

        asyncua's own log records are quieted (see :func:`quiet_opcua_logs`), its
        records of peers' errors become obisgate's one-line reports; a failed
        start stops what was set up.

        Raises:
            TransportError: the address cannot be bound; one line
                ``opcua cannot listen on HOST:PORT: REASON``.
            ConfigError: the certificate, key or users file cannot be used.
        """
        asyncua = require_extra("asyncua", "opcua", "opcua")
        quiet_opcua_logs()
        host, port = split_listen(self.section.listen)
        try:
            users = (
                load_users(self.section.users_file) if self.section.users_file is not None else {}
            )
        except ConfigError as exc:
            self._health.set(OutputState.OFF, str(exc))
            raise
        self.logins = Logins(users, anonymous=self.section.anonymous)
        server = asyncua.Server(user_manager=_UserManager(self.logins, asyncua))
        self._peer_records.install()
        try:
            await self._serve(server, asyncua.ua, host, port)
        except BaseException as exc:
            self._nodes.clear()
            self._peer_records.remove()
            with contextlib.suppress(Exception):
                await server.stop()
            if isinstance(exc, OSError):
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                message = f"opcua cannot listen on {host}:{port}: {reason}"
                self._health.set(OutputState.OFF, message)
                raise TransportError(message) from None
            if isinstance(exc, ConfigError):
                self._health.set(OutputState.OFF, str(exc))
                raise
            self._health.set(OutputState.OFF, f"{type(exc).__name__}: {exc}")
            raise
        self._server = server
        # BinaryServer.port is the bound port (it replaces 0 by the real one).
        self.port = int(server.bserver.port)
        self._health.set(OutputState.RUNNING)
        announce(f"opcua listening on {self.endpoint}")

    async def _serve(self, server: Any, ua: Any, host: str, port: int) -> None:
        """Build the address space of ``server`` and listen on ``host``:``port``.

        Raises:
            ConfigError: the certificate or key cannot be read.
            OSError: the address cannot be bound.
        """
        section = self.section
        await server.init()
        shown = f"[{host}]" if ":" in host else host
        server.set_endpoint(f"opc.tcp://{shown}:{port}{ENDPOINT_PATH}")
        server.set_server_name("obisgate")
        policies = []
        if section.users_file is None:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        if section.certificate is not None and section.private_key is not None:
            uri = application_uri(section.certificate)
            try:
                await server.load_certificate(str(section.certificate))
                await server.load_private_key(str(section.private_key))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"[opcua] certificate or private_key cannot be used: {exc}"
                ) from None
            if uri is not None:
                await server.set_application_uri(uri)
            policies += [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        server.set_security_policy(policies)
        tokens: list[type] = []
        if section.anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        if section.users_file is not None:
            tokens.append(ua.UserNameIdentityToken)
        server.set_identity_tokens(tokens)
        index = await server.register_namespace(NAMESPACE)
        waiting = ua.StatusCode(STATUS["BadWaitingForInitialData"])
        started = self._utc_now()
        for device, rows in self.variables.items():
            folder = await server.nodes.objects.add_object(index, device)
            for variable in rows:
                node = await self._add_variable(server, ua, folder, index, device, variable)
                variant_type = getattr(ua.VariantType, variable.kind)
                initial = {"Double": 0.0, "Boolean": False, "String": ""}[variable.kind]
                await server.write_attribute_value(
                    node.nodeid,
                    ua.DataValue(
                        ua.Variant(initial, variant_type),
                        StatusCode=waiting,
                        SourceTimestamp=started,
                        ServerTimestamp=started,
                    ),
                )
                self._nodes[(device, variable.signal)] = (node, variable.kind)
        await server.start()
        self.namespace_index = index

    @staticmethod
    async def _add_variable(
        server: Any, ua: Any, folder: Any, index: int, device: str, variable: Variable
    ) -> Any:
        """One variable under ``folder``: its description, and with a unit its type
        AnalogUnitType and EngineeringUnits property."""
        variant_type = getattr(ua.VariantType, variable.kind)
        initial = {"Double": 0.0, "Boolean": False, "String": ""}[variable.kind]
        node = await folder.add_variable(
            ua.NodeId(f"{device}.{variable.signal}", index),
            variable.signal,
            ua.Variant(initial, variant_type),
        )
        if variable.description:
            await node.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(
                    ua.Variant(ua.LocalizedText(variable.description), ua.VariantType.LocalizedText)
                ),
            )
        unit = variable.unit
        if unit is not None:
            await node.delete_reference(
                ua.NodeId(_BASE_DATA_VARIABLE_TYPE), ua.NodeId(_HAS_TYPE_DEFINITION), forward=True
            )
            await node.add_reference(
                ua.NodeId(_ANALOG_UNIT_TYPE), ua.NodeId(_HAS_TYPE_DEFINITION), forward=True
            )
            information = ua.EUInformation(
                NamespaceUri=UNECE_NAMESPACE,
                UnitId=unit.unit_id,
                DisplayName=ua.LocalizedText(unit.display_name),
                Description=ua.LocalizedText(unit.description),
            )
            await node.add_property(
                ua.NodeId(f"{device}.{variable.signal}.EngineeringUnits", index),
                ua.QualifiedName("EngineeringUnits", 0),
                ua.Variant(information, ua.VariantType.ExtensionObject),
                datatype=ua.NodeId(_EU_INFORMATION),
            )
        return node

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Write every variable of the batch with its value, StatusCode, the reading's time as
        SourceTimestamp and now as ServerTimestamp."""
        server = self._server
        if server is None:
            return
        ua = require_extra("asyncua", "opcua", "opcua").ua
        now = self._utc_now()
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
                ua.DataValue(
                    variant, StatusCode=status, SourceTimestamp=update.time, ServerTimestamp=now
                ),
            )
            self.writes += 1

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    def health(self) -> OutputHealth:
        """The endpoint, variables served, values written, logins and requests refused."""
        logins = self.logins
        return self._health.health(
            address=self.endpoint,
            counters={
                "variables": len(self._nodes),
                "writes_total": self.writes,
                "logins_refused_total": 0 if logins is None else logins.refused,
                "peer_errors_total": self.peer_errors.total,
            },
        )

    async def aclose(self) -> None:
        """Stop the server and close client sessions."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            self._peer_records.remove()
            self._health.set(OutputState.CLOSED)


class _UserManager:
    """asyncua's user manager: asks :class:`Logins` (asyncua accepts anyone without one)."""

    def __init__(self, logins: Logins, asyncua: Any) -> None:
        self.logins = logins
        self._permission = asyncua.crypto.permission_rules

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> Any:
        del iserver
        # The channel's peer certificate: empty (b"" or None) on an unsecured channel.
        if not self.logins.check(username, password, secured=bool(certificate)):
            return None
        # The User role may read, browse and subscribe (asyncua's Anonymous role may do
        # nothing); writes are refused by the variables' access level.
        rules = self._permission
        return rules.User(role=rules.UserRole.User, name=username or "anonymous")
