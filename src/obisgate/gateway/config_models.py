"""The validated, frozen configuration models: devices, signals, storage, output, the whole.

The fields and their defaults are described in :mod:`obisgate.gateway.config`;
load files with :func:`obisgate.gateway.config.load_config`.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from obisgate import (
    BccMethod,
    ConfigError,
    DataSet,
    LineSettings,
    ProtocolMode,
    ReadoutOptions,
)
from obisgate.gateway import config_cells as cells
from obisgate.gateway.config_files import ConfigProblem
from obisgate.gateway.mapping import extract_value
from obisgate.gateway.numbers import Converted, NumberType
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.gateway.outputs.opcua.config import OpcUaConfig
from obisgate.gateway.outputs.postgres.config import PostgresConfig
from obisgate.gateway.plan import SignalPlan
from obisgate.password_config import read_password_file

__all__ = [
    "DEFAULT_HISTORY_FILE",
    "SECRET_FIELDS",
    "DeviceConfig",
    "GatewayConfig",
    "OutputConfig",
    "SignalConfig",
    "StorageConfig",
    "connection_problems",
]

DEFAULT_HISTORY_FILE = "obisgate-history.sqlite"
#: Fields whose values are never shown in messages.
SECRET_FIELDS = frozenset({"password", "password_env", "password_file"})
#: Register read commands a signal read by command may use (R5/R6: VDEW/OBIS, EMH).
READ_COMMANDS = ("R1", "R2", "R3", "R4", "R5", "R6")


def connection_problems(given: set[str]) -> list[tuple[str | None, str]]:
    """(field, message) for a missing or contradictory connection, from the fields given."""
    problems: list[tuple[str | None, str]] = []
    has_ip, has_port = "ip" in given, "port" in given
    if has_ip != has_port:
        missing = "port" if has_ip else "ip"
        problems.append((missing, "required with " + ("ip" if has_ip else "port")))
    if "url" in given and (has_ip or has_port):
        problems.append(("url", "give either url or ip + port, not both"))
    if not given & {"device", "ip", "port", "url"}:
        problems.append((None, "no connection: set device (serial port), ip + port, or url"))
    secrets = sorted(given & SECRET_FIELDS)
    if len(secrets) > 1:
        problems.append((secrets[1], f"give only one of {', '.join(sorted(SECRET_FIELDS))}"))
    return problems


#: The smallest default total deadline of a poll (a slow 300 Bd readout must fit).
MIN_DEFAULT_TOTAL_TIMEOUT_MS = 10_000


class DeviceConfig(BaseModel):
    """One meter and how to reach and read it (fields: see :mod:`obisgate.gateway.config`).

    For the poller: :attr:`url_or_port` (for ``open_transport``),
    :attr:`port_key` (devices sharing a line), :meth:`line_settings` and
    :meth:`readout_options` build what the transport and reader need.

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: cells.DeviceAlias
    name: cells.Text = ""
    description: cells.Text = ""
    enable: cells.Switch = True
    protocol: Annotated[
        str, BeforeValidator(cells.choice(cells.PROTOCOL, "IEC 62056-21 (or IEC 61107, IEC 1107)"))
    ] = "IEC 62056-21"
    meter_model: cells.OptText = None
    device: cells.OptText = None
    ip: Annotated[str | None, BeforeValidator(cells.optional(cells.host_name))] = None
    port: Annotated[int | None, BeforeValidator(cells.optional(cells.int_range(1, 65535)))] = None
    url: Annotated[str | None, BeforeValidator(cells.optional(cells.network_url))] = None
    baudrate: cells.Baud = 300
    databits: Annotated[int, BeforeValidator(cells.int_choice((5, 6, 7, 8)))] = 7
    stopbits: Annotated[
        float, BeforeValidator(lambda v: cells.float_choice(v, (1.0, 1.5, 2.0)))
    ] = 1.0
    parity: Annotated[
        str, BeforeValidator(cells.choice(cells.PARITY, "NONE, EVEN, ODD (or N, E, O)"))
    ] = "EVEN"
    flowcontrol: Annotated[
        str, BeforeValidator(cells.choice(cells.FLOW, "NONE, RTSCTS, XONXOFF, DSRDTR"))
    ] = "NONE"
    serial_close_delay: cells.Millis = 400
    software_parity: cells.Switch = False
    keep_open: cells.Switch = False
    serialnumber: Annotated[
        str,
        BeforeValidator(
            cells.pattern(r"[0-9A-Za-z ]{1,32}", "1-32 of 0-9, A-Z, a-z, space (0 = no address)")
        ),
    ] = "0"
    type: Annotated[str, BeforeValidator(cells.choice(cells.MODES, "A, B, C, D, E, HDLC"))] = "C"
    # Mode E / direct HDLC (DLMS/COSEM): the HDLC addresses of the meter.
    dlms_client: Annotated[int, BeforeValidator(cells.int_range(0, 127))] = 16
    dlms_logical: Annotated[int, BeforeValidator(cells.int_range(0, 16383))] = 1
    dlms_physical: Annotated[int, BeforeValidator(cells.int_range(0, 16383))] = 17
    t2: Annotated[int, BeforeValidator(cells.int_range(200, 1500, " ms"))] = 200
    timeout_ms: Annotated[int, BeforeValidator(cells.int_range(10, 600_000, " ms"))] = 2500
    inter_byte_timeout_ms: Annotated[int, BeforeValidator(cells.int_range(10, 600_000, " ms"))] = (
        1500
    )
    poll_delay_ms: cells.Millis = 200
    scan_rate_ms: Annotated[int, BeforeValidator(cells.int_range(100, 86_400_000, " ms"))] = 10000
    total_timeout_ms: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(100, 86_400_000, " ms")))
    ] = None
    max_baud: cells.OptBaud = None
    force_baud: cells.OptBaud = None
    switch_baud: cells.Switch = True
    wakeup: Annotated[int, BeforeValidator(cells.wakeup_nuls)] = 0
    wakeup_delay_ms: Annotated[int, BeforeValidator(cells.int_range(0, 10_000, " ms"))] = 1600
    request_start: Annotated[str, BeforeValidator(cells.request_start)] = "/?"
    strip_echo: cells.Switch = True
    bcc_method: Annotated[BccMethod, BeforeValidator(cells.as_bcc_method)] = BccMethod.XOR
    verify_bcc: cells.Switch = True
    repeat_requests: Annotated[int, BeforeValidator(cells.int_range(0, 10))] = 1
    retries: Annotated[int, BeforeValidator(cells.int_range(0, 10))] = 1
    decimal_comma: cells.Switch = False
    baud_change_delay_ms: Annotated[int, BeforeValidator(cells.int_range(0, 10_000, " ms"))] = 0
    password_scheme: Annotated[
        str,
        BeforeValidator(
            cells.pattern(
                r"(?i)p1|p2-elster|elster|none|p2:[A-Za-z_][\w.]*:[A-Za-z_]\w*",
                "p1, p2-elster, none or p2:MODULE:FUNCTION",
            )
        ),
    ] = "p1"  # noqa: S105 - a scheme name, not a password
    read_command: Annotated[
        str, BeforeValidator(cells.choice({c: c for c in READ_COMMANDS}, ", ".join(READ_COMMANDS)))
    ] = "R1"
    read_argument: cells.Text = ""
    allow_write: cells.Switch = False
    password: Annotated[SecretStr | None, BeforeValidator(cells.optional(cells.as_secret))] = Field(
        default=None, repr=False
    )
    password_env: Annotated[str | None, BeforeValidator(cells.optional(cells.env_name))] = Field(
        default=None, repr=False
    )
    password_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None, repr=False
    )

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name"):
            alias = data.get("device_alias")
            if isinstance(alias, str):
                data = {**data, "name": alias.strip()}
        return data

    @model_validator(mode="after")
    def _check_connection(self) -> DeviceConfig:
        given = {
            name
            for name in ("device", "ip", "port", "url", *SECRET_FIELDS)
            if getattr(self, name) is not None
        }
        problems = connection_problems(given)
        if problems:
            raise ValueError("; ".join(f"{f}: {m}" if f else m for f, m in problems))
        if self.keep_open and self.transport != "tcp":
            raise ValueError("keep_open: only for raw TCP converters (ip + port, or a tcp:// url)")
        return self

    @property
    def address(self) -> str:
        """The address sent in the request: ``""`` for serial number ``0``."""
        return "" if self.serialnumber == "0" else self.serialnumber

    @property
    def transport(self) -> Literal["serial", "tcp", "rfc2217"]:
        """How the meter is reached: ``url`` wins over ``ip`` + ``port`` over ``device``."""
        if self.url is not None:
            return "rfc2217" if self.url.startswith("rfc2217:") else "tcp"
        if self.ip is not None:
            return "tcp"
        return "serial"

    @property
    def url_or_port(self) -> str:
        """Where the meter is: the explicit ``url``, ``tcp://ip:port``, or the serial port path.

        IPv6 addresses are bracketed (``tcp://[::1]:4059``). For ``serial`` and
        ``rfc2217`` the line settings come from :meth:`line_settings`.
        """
        if self.url is not None:
            return self.url
        if self.ip is not None:
            host = f"[{self.ip}]" if ":" in self.ip else self.ip
            return f"tcp://{host}:{self.port}"
        assert self.device is not None  # guaranteed by the connection check
        return self.device

    @property
    def port_key(self) -> str:
        """Devices with the same key share one line (a bus) and must take turns.

        The serial port path, or the lower-cased URL (``tcp://ip:port`` for
        ``ip`` + ``port``).
        """
        return self.url_or_port if self.transport == "serial" else self.url_or_port.lower()

    def line_settings(self) -> LineSettings:
        """Line settings for the transport (raw TCP uses only the nominal rate and
        ``software_parity``). A direct HDLC meter (``type = "HDLC"``) is 8N1, at
        ``baudrate`` when given, else 9600."""
        if self.type == "HDLC":
            return LineSettings(
                baudrate=self.baudrate if "baudrate" in self.model_fields_set else 9600,
                bytesize=8,
                parity="N",
                stopbits=self.stopbits,
                flowcontrol=self.flowcontrol,
            )
        return LineSettings(
            baudrate=self.baudrate,
            bytesize=self.databits,
            parity=self.parity,
            stopbits=self.stopbits,
            flowcontrol=self.flowcontrol,
            software_parity=self.software_parity,
        )

    @property
    def total_timeout_s(self) -> float:
        """Limit for one whole poll: ``total_timeout_ms``, else the scan rate, at least 10 s."""
        if self.total_timeout_ms is not None:
            return self.total_timeout_ms / 1000
        return max(self.scan_rate_ms, MIN_DEFAULT_TOTAL_TIMEOUT_MS) / 1000

    @property
    def mode(self) -> ProtocolMode:
        """The configured protocol mode (``type``)."""
        return ProtocolMode(self.type)

    def readout_options(self) -> ReadoutOptions:
        """The reader's options for this meter (times converted to seconds).

        Raises:
            ConfigError: the options are inconsistent (cannot happen for a
                device loaded by :func:`load_config`, which checks this).
        """
        return ReadoutOptions(
            address=self.address,
            request_start=self.request_start,
            wakeup_nuls=self.wakeup,
            wakeup_delay_s=self.wakeup_delay_ms / 1000,
            mode=self.mode,
            initial_baud=self.baudrate,
            max_baud=self.max_baud,
            force_baud=self.force_baud,
            switch_baud=self.switch_baud,
            reaction_time_s=self.t2 / 1000,
            baud_change_delay_s=self.baud_change_delay_ms / 1000,
            response_timeout_s=self.timeout_ms / 1000,
            inter_byte_timeout_s=self.inter_byte_timeout_ms / 1000,
            bcc_method=self.bcc_method,
            verify_bcc=self.verify_bcc,
            repeat_requests=self.repeat_requests,
            strip_echo=self.strip_echo,
        )

    def resolve_password(self) -> SecretStr | None:
        """The programming-mode password from ``password``, ``password_env`` or ``password_file``.

        Read when called, never at load time. From a file: its first line, without
        the line end (the CLI's rule too).

        Raises:
            ConfigError: the environment variable is not set or the file cannot
                be read (the message never contains the value).
        """
        if self.password is not None:
            return self.password
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"device {self.device_alias}: the variable named in password_env is not set"
                )
            return SecretStr(value)
        if self.password_file is not None:
            try:
                return SecretStr(read_password_file(self.password_file))
            except ConfigError:
                raise ConfigError(
                    f"device {self.device_alias}: cannot read the password_file"
                ) from None
        return None


class SignalConfig(BaseModel):
    """One value read from a device (fields: see :mod:`obisgate.gateway.config`).

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: cells.DeviceAlias
    signal_alias: cells.SignalAlias
    tag_job_todo: Annotated[str, BeforeValidator(cells.obis_address)]
    number_type: Annotated[NumberType, BeforeValidator(cells.as_number_type)]
    signal_name: cells.Text = ""
    description: cells.Text = ""
    enable: cells.Switch = True
    log: Annotated[int, BeforeValidator(cells.int_range(0, 1_000_000))] = 0
    value_index: Annotated[
        int, BeforeValidator(cells.int_range(1, 1000, " (counted from 1: the first bracket)"))
    ] = 1
    subvalue: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(1, 1000, " (counted from 1)")))
    ] = None
    multiply: cells.Finite = 1.0
    add: cells.Finite = 0.0
    unit: cells.OptText = None
    read_by: Annotated[
        str,
        BeforeValidator(
            cells.choice({"READOUT": "readout", "COMMAND": "command"}, "readout, command")
        ),
    ] = "readout"
    # Mode E / direct HDLC: the object's interface class (empty: from the meter's object
    # list) and the attribute read (2, the value).
    cosem_class: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(1, 65535)))
    ] = None
    attribute: Annotated[int, BeforeValidator(cells.int_range(1, 255))] = 2
    # Output columns: empty / absent = the output's default for this signal.
    ha_device_class: Annotated[str | None, BeforeValidator(cells.optional(cells.ha_class))] = None
    ha_state_class: Annotated[str | None, BeforeValidator(cells.optional(cells.ha_state_class))] = (
        None
    )
    modbus_address: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(0, 65535)))
    ] = None
    modbus_type: Annotated[str | None, BeforeValidator(cells.optional(cells.modbus_type))] = None
    modbus_quality_address: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(0, 65535)))
    ] = None
    ioa: Annotated[int | None, BeforeValidator(cells.optional(cells.int_range(1, 16_777_215)))] = (
        None
    )
    iec104_type: Annotated[str | None, BeforeValidator(cells.optional(cells.iec104_type))] = None
    iec104_scale: cells.Finite = 1.0

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("signal_name"):
            alias = data.get("signal_alias")
            if isinstance(alias, str):
                data = {**data, "signal_name": alias.strip()}
        return data

    @property
    def key(self) -> tuple[str, str]:
        """``(device_alias, signal_alias)``: unique in a configuration."""
        return (self.device_alias, self.signal_alias)

    @property
    def value_offset(self) -> int:
        """:attr:`value_index` counted from 0 (index into ``DataSet.values``)."""
        return self.value_index - 1

    @property
    def subvalue_offset(self) -> int | None:
        """:attr:`subvalue` counted from 0 (index into ``Value.subvalues``), or ``None``."""
        return None if self.subvalue is None else self.subvalue - 1

    @property
    def logged(self) -> bool:
        """True when the signal's history is kept (``log > 0``)."""
        return self.log > 0

    def plan(self, *, decimal_comma: bool = False) -> SignalPlan:
        """This signal as the poller uses it (value group and sub-value counted from 0)."""
        return SignalPlan(
            alias=self.signal_alias,
            name=self.signal_name,
            tag=self.tag_job_todo,
            value_index=self.value_offset,
            subvalue=self.subvalue_offset,
            number_type=self.number_type,
            multiply=self.multiply,
            add=self.add,
            unit=self.unit,
            log=self.logged,
            decimal_comma=decimal_comma,
            by_command=self.read_by == "command",
        )

    def extract(self, dataset: DataSet | None, *, decimal_comma: bool = False) -> Converted:
        """Convert this signal's value from the data set with its address.

        See :func:`obisgate.gateway.mapping.extract_value` for the qualities.
        """
        return extract_value(self.plan(decimal_comma=decimal_comma), dataset)


class StorageConfig(BaseModel):
    """Where the history of logged signals is kept.

    Attributes:
        path: the SQLite file (absolute after :func:`load_config`).
        synchronous: SQLite ``synchronous`` setting: NORMAL or FULL.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[Path, BeforeValidator(cells.as_path)] = Path(DEFAULT_HISTORY_FILE)
    synchronous: Annotated[
        Literal["NORMAL", "FULL"],
        BeforeValidator(cells.choice({"NORMAL": "NORMAL", "FULL": "FULL"}, "NORMAL, FULL")),
    ] = "NORMAL"


class OutputConfig(BaseModel):
    """How the gateway prints values.

    Attributes:
        format: ``jsonl`` (one JSON object per line), ``table`` or ``none``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Annotated[
        Literal["jsonl", "table", "none"],
        BeforeValidator(
            cells.choice({"JSONL": "jsonl", "TABLE": "table", "NONE": "none"}, "jsonl, table, none")
        ),
    ] = "jsonl"


class GatewayConfig(BaseModel):
    """A whole, consistent configuration.

    Attributes:
        devices: every device, in file order (disabled ones included).
        signals: every signal, in file order.
        storage: history database settings.
        output: output settings.
        mqtt, http, modbus, iec104, opcua, postgres: the network outputs' sections, ``None``
            when the output is off (see :mod:`obisgate.gateway.outputs.sections`).
        warnings: what :func:`load_config` warned about (never raised).
        source: the file or directory it was loaded from, if any.

    Raises:
        pydantic.ValidationError: (on construction) duplicate aliases or a
            signal naming a missing device.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    devices: tuple[DeviceConfig, ...]
    signals: tuple[SignalConfig, ...] = ()
    storage: StorageConfig = StorageConfig()
    output: OutputConfig = OutputConfig()
    mqtt: MqttConfig | None = None
    http: HttpConfig | None = None
    modbus: ModbusConfig | None = None
    iec104: Iec104Config | None = None
    opcua: OpcUaConfig | None = None
    postgres: PostgresConfig | None = None
    warnings: tuple[ConfigProblem, ...] = ()
    source: Path | None = None

    @model_validator(mode="after")
    def _check_references(self) -> GatewayConfig:
        aliases = [d.device_alias for d in self.devices]
        duplicates = sorted(a for a, n in Counter(aliases).items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate device_alias: {', '.join(duplicates)}")
        dup_keys = sorted(k for k, n in Counter(s.key for s in self.signals).items() if n > 1)
        if dup_keys:
            raise ValueError(
                "duplicate signal_alias: " + ", ".join(f"{d}/{s}" for d, s in dup_keys)
            )
        missing = sorted({s.device_alias for s in self.signals} - set(aliases))
        if missing:
            raise ValueError(f"signals name missing devices: {', '.join(missing)}")
        return self

    def device(self, alias: str) -> DeviceConfig:
        """The device with this alias.

        Raises:
            KeyError: no such device.
        """
        for device in self.devices:
            if device.device_alias == alias:
                return device
        raise KeyError(alias)

    def remember_readout_options(
        self, options: dict[str, tuple[DeviceConfig, ReadoutOptions]]
    ) -> None:
        """Keep ``device.readout_options()`` already made (alias -> (device, options))."""
        self._made_options.update(options)

    def readout_options(self, device: DeviceConfig) -> ReadoutOptions:
        """``device.readout_options()``, made once: remembered when it is this very device.

        Raises:
            ConfigError: as :meth:`DeviceConfig.readout_options`.
        """
        known = self._made_options.get(device.device_alias)
        if known is not None and known[0] is device:
            return known[1]
        return device.readout_options()

    @property
    def enabled_devices(self) -> tuple[DeviceConfig, ...]:
        """Devices with ``enable = 1``."""
        return tuple(d for d in self.devices if d.enable)

    def signals_for(
        self, device_alias: str, *, enabled_only: bool = True
    ) -> tuple[SignalConfig, ...]:
        """The signals of a device, in file order (only enabled ones by default)."""
        signals = self._signals_by_device.get(device_alias, ())
        return tuple(s for s in signals if s.enable) if enabled_only else signals

    @cached_property
    def _made_options(self) -> dict[str, tuple[DeviceConfig, ReadoutOptions]]:
        # Not a field nor a private attribute: never part of equality, dumps or repr.
        return {}

    @cached_property
    def _signals_by_device(self) -> dict[str, tuple[SignalConfig, ...]]:
        grouped: dict[str, list[SignalConfig]] = defaultdict(list)
        for signal in self.signals:
            grouped[signal.device_alias].append(signal)
        return {alias: tuple(signals) for alias, signals in grouped.items()}

    @property
    def served_signals(self) -> tuple[SignalConfig, ...]:
        """Enabled signals on enabled devices, in file order."""
        enabled = {d.device_alias for d in self.devices if d.enable}
        return tuple(s for s in self.signals if s.enable and s.device_alias in enabled)

    @property
    def logged_signals(self) -> tuple[SignalConfig, ...]:
        """Enabled signals with ``log > 0`` on enabled devices."""
        return tuple(s for s in self.served_signals if s.logged)
