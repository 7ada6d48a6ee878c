"""The validated, frozen configuration models: devices, signals, storage, output, the whole.

Each field carries its description (``Field(description=...)``), from which
``docs/configuration.md`` is generated; load files with
:func:`obisgate.gateway.config.load_config`. The outputs' sections and signal
columns are not fields of these models: a configuration holds the sections by
name (:meth:`GatewayConfig.section`) and a signal its outputs' columns
(:meth:`SignalConfig.columns`), so nothing here imports an output.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Mapping, Set
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    model_validator,
)

from obisgate import (
    BccMethod,
    DataSet,
    LineSettings,
    ProtocolMode,
    ReadoutOptions,
)
from obisgate.gateway import config_cells as cells
from obisgate.gateway.config_rows import ConfigProblem
from obisgate.gateway.mapping import extract_value
from obisgate.gateway.numbers import NUMERIC_TYPES, Converted, NumberType
from obisgate.gateway.plan import SignalPlan
from obisgate.gateway.processing.deadband import PublishRules
from obisgate.gateway.processing.derived import OPERATIONS
from obisgate.gateway.processing.guards import GuardRules
from obisgate.gateway.units import normalise_unit
from obisgate.password_config import read_configured_password

__all__ = [
    "DEFAULT_HISTORY_FILE",
    "DERIVED_FIELDS",
    "GUARDED_TYPES",
    "GUARD_FIELDS",
    "NO_PROCESSING",
    "PROCESSING_FIELDS",
    "READ_FIELDS",
    "SECRET_FIELDS",
    "DeviceConfig",
    "GatewayConfig",
    "GroupConfig",
    "OutputConfig",
    "SectionKind",
    "SignalConfig",
    "SignalProcessing",
    "StorageConfig",
    "connection_problems",
    "port_key",
    "signal_field_problems",
    "url_or_port",
]

S = TypeVar("S", bound=BaseModel)
S_co = TypeVar("S_co", bound=BaseModel, covariant=True)
C = TypeVar("C", bound=BaseModel)


class SectionKind(Protocol[S_co]):
    """What names an output's section: its name and its model (an ``OutputSpec``)."""

    @property
    def name(self) -> str:
        """The section's name (``mqtt``)."""
        ...

    @property
    def model(self) -> type[S_co]:
        """The section's model."""
        ...


DEFAULT_HISTORY_FILE = "obisgate-history.sqlite"
#: Fields whose values are never shown in messages.
SECRET_FIELDS = frozenset({"password", "password_env", "password_file"})
#: Register read commands a signal read by command may use (R5/R6: VDEW/OBIS, EMH).
READ_COMMANDS = ("R1", "R2", "R3", "R4", "R5", "R6")
#: Read commands of load-profile requests.
PROFILE_COMMANDS = ("R5", "R6", "R1", "R2")


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


def url_or_port(url: str | None, ip: str | None, port: int | None, device: str | None) -> str:
    """Where a meter is: ``url``, else ``tcp://ip:port`` (IPv6 bracketed), else ``device``.

    The fields as :class:`DeviceConfig` validates them, with a connection that
    :func:`connection_problems` accepts.
    """
    if url is not None:
        return url
    if ip is not None:
        host = f"[{ip}]" if ":" in ip else ip
        return f"tcp://{host}:{port}"
    assert device is not None  # guaranteed by the connection check
    return device


def port_key(url: str | None, ip: str | None, port: int | None, device: str | None) -> str:
    """The line of a meter (:attr:`DeviceConfig.port_key`): the serial port path, or the
    lower-cased URL (``tcp://ip:port`` for ``ip`` + ``port``)."""
    where = url_or_port(url, ip, port, device)
    return where if url is None and ip is None else where.lower()


#: The smallest default total deadline of a poll (a slow 300 Bd readout must fit).
MIN_DEFAULT_TOTAL_TIMEOUT_MS = 10_000


class DeviceConfig(BaseModel):
    """One meter and how to reach and read it (fields: ``docs/configuration.md``).

    For the poller: :attr:`url_or_port` (for ``open_transport``),
    :attr:`port_key` (devices sharing a line), :meth:`line_settings` and
    :meth:`readout_options` build what the transport and reader need.

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: cells.DeviceAlias = Field(
        description="The device's name in signals, topics, logs and the history: 1-64 letters, "
        "digits, `-`, `_`; unique.",
        json_schema_extra={"group": "The device"},
    )
    name: cells.Text = Field(
        default="",
        description="A readable name (web view, discovery).",
        json_schema_extra={"shown": "the alias"},
    )
    description: cells.Text = Field(default="", description="Free text, kept.")
    enable: cells.Switch = Field(
        default=True, description="0: the device is not polled (kept in the file)."
    )
    protocol: Annotated[
        str, BeforeValidator(cells.choice(cells.PROTOCOL, "IEC 62056-21 (or IEC 61107, IEC 1107)"))
    ] = Field(
        default="IEC 62056-21",
        description="`IEC 62056-21`; `IEC 61107` and `IEC 1107` are accepted.",
    )
    meter_model: cells.OptText = Field(
        default=None,
        description="The name of a recipe (`obisgate recipes`) whose settings the device takes "
        "for every field it does not set itself; `none` turns the recipes off for this device "
        "(otherwise every recipe matching the meter's identification changes the settings that "
        "act after it, except the fields the device sets). Any other text is kept as the "
        "meter's model name, shown by Home Assistant discovery; one close to a recipe's name is "
        "warned about (a typo).",
    )
    device: cells.OptText = Field(
        default=None,
        description="A serial port (`/dev/ttyUSB0`, `COM3`). Exactly one of `device`, `ip` + "
        "`port` and `url` says where the meter is; `ip` + `port` or `url` win over a `device` "
        "also given (warned).",
        json_schema_extra={"group": "Where the meter is"},
    )
    ip: Annotated[str | None, BeforeValidator(cells.optional(cells.host_name))] = Field(
        default=None,
        description="A raw TCP converter's host name or address, with `port` (of the serial "
        "settings only `software_parity` then counts).",
    )
    port: Annotated[int | None, BeforeValidator(cells.optional(cells.int_range(1, 65535)))] = Field(
        default=None, description="The converter's TCP port (1-65535), with `ip`."
    )
    url: Annotated[str | None, BeforeValidator(cells.optional(cells.network_url))] = Field(
        default=None,
        description="`tcp://HOST:PORT` (raw TCP) or `rfc2217://HOST:PORT` (a converter that "
        "switches the line settings); not together with `ip` / `port`.",
    )
    baudrate: cells.Baud = Field(
        default=300,
        description="The initial rate: 300, 600, 1200, 2400, 4800, 9600 or 19200 Bd; in modes B "
        "and C the meter's proposed rate is used next. A push meter's own rate (mode D).",
        json_schema_extra={"group": "Serial line"},
    )
    databits: Annotated[int, BeforeValidator(cells.int_choice((5, 6, 7, 8)))] = Field(
        default=7, description="5-8."
    )
    stopbits: Annotated[
        float, BeforeValidator(lambda v: cells.float_choice(v, (1.0, 1.5, 2.0)))
    ] = Field(default=1.0, description="1, 1.5 or 2.")
    parity: Annotated[
        str, BeforeValidator(cells.choice(cells.PARITY, "NONE, EVEN, ODD (or N, E, O)"))
    ] = Field(default="EVEN", description="NONE, EVEN, ODD (or N, E, O).")
    flowcontrol: Annotated[
        str, BeforeValidator(cells.choice(cells.FLOW, "NONE, RTSCTS, XONXOFF, DSRDTR"))
    ] = Field(default="NONE", description="NONE, RTSCTS, XONXOFF, DSRDTR.")
    serial_close_delay: cells.Millis = Field(
        default=400, description="Milliseconds to wait before the port is closed (0-600000)."
    )
    software_parity: cells.Switch = Field(
        default=False,
        description="1: send 7E1 characters over an 8N1 link (TCP converters, modems): obisgate "
        "sets the parity bit itself and strips bit 7 on receive.",
    )
    keep_open: cells.Switch = Field(
        default=False,
        description="Raw TCP only: keep the converter connection open between polls instead "
        "of connecting for every readout; a connection that broke meanwhile is reopened at once.",
    )
    serialnumber: Annotated[
        str,
        BeforeValidator(
            cells.pattern(r"[0-9A-Za-z ]{1,32}", "1-32 of 0-9, A-Z, a-z, space (0 = no address)")
        ),
    ] = Field(
        default="0",
        description="The device address in the request, 1-32 of 0-9, A-Z, a-z, space. `0` sends "
        "`/?!`, which every meter on a shared bus may answer (warned when the port is shared).",
        json_schema_extra={"group": "Protocol"},
    )
    type: Annotated[str, BeforeValidator(cells.choice(cells.MODES, "A, B, C, D, E, HDLC"))] = Field(
        default="C",
        description="Mode A, B or C (the forced mode of the reader). D: a push meter whose port "
        "stays open, each complete telegram being one readout, published at most every "
        "`scan_rate_ms` and turning not topical after `timeout_ms` of silence. E: DLMS/COSEM "
        "after the IEC 62056-21 opening (`ACK 2 Z 2`, then HDLC at the meter's rate); HDLC: "
        "DLMS/COSEM over HDLC from the first byte, 8N1 at `baudrate` (9600 when not given). "
        "Each poll of an E or HDLC meter is one association reading every signal's object "
        "(with-list where allowed); `timeout_ms` is also the HDLC response timeout; a password "
        "is sent as the LLS password, and a refused one stops the device's polls until reload.",
    )
    dlms_client: Annotated[int, BeforeValidator(cells.int_range(0, 127))] = Field(
        default=16,
        description="Mode E / HDLC: the client's HDLC address, 0-127 (16: the public client).",
    )
    dlms_logical: Annotated[int, BeforeValidator(cells.int_range(0, 16383))] = Field(
        default=1, description="Mode E / HDLC: the meter's logical HDLC address, 0-16383."
    )
    dlms_physical: Annotated[int, BeforeValidator(cells.int_range(0, 16383))] = Field(
        default=17, description="Mode E / HDLC: the meter's physical HDLC address, 0-16383."
    )
    t2: Annotated[int, BeforeValidator(cells.int_range(200, 1500, " ms"))] = Field(
        default=200,
        description="Milliseconds before acknowledging in mode C (200-1500; 200 is the "
        "standard's minimum: raise it for a meter that needs more).",
    )
    timeout_ms: Annotated[int, BeforeValidator(cells.int_range(10, 600_000, " ms"))] = Field(
        default=2500,
        description="Milliseconds to wait for the first byte of an answer (10-600000); for a "
        "push meter, the silence after which its values turn not topical.",
    )
    inter_byte_timeout_ms: Annotated[int, BeforeValidator(cells.int_range(10, 600_000, " ms"))] = (
        Field(default=1500, description="The longest silence inside an answer, in ms (10-600000).")
    )
    poll_delay_ms: cells.Millis = Field(
        default=200, description="Milliseconds to wait before sending anything (0-600000)."
    )
    scan_rate_ms: Annotated[int, BeforeValidator(cells.int_range(100, 86_400_000, " ms"))] = Field(
        default=10000,
        description="Milliseconds between readouts (100 ms to 1 day); a readout longer than its "
        "scan is counted as missed scans, never queued.",
    )
    total_timeout_ms: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(100, 86_400_000, " ms")))
    ] = Field(
        default=None,
        description="The limit of one whole poll (opening, retries, readout, programming "
        "session), 100 ms to 1 day: when it passes the poll is abandoned, the port released "
        "and `_status` is `timeout`.",
        json_schema_extra={"shown": "the scan rate, at least 10000"},
    )
    scan_align: cells.Switch = Field(
        default=False,
        description="0: the device's polls fall at a fixed second of each scan period on the "
        "clock, offset by a stable hash of its alias (the same on every run and every "
        "gateway), so that thousands of meters do not all start at :00; the first poll comes "
        "at the first such slot after the start. 1: the older spread: the first polls of all "
        "devices evenly over their scans from the start, in configuration order.",
        json_schema_extra={"group": "Schedules, throttling and read plans"},
    )
    group: Annotated[
        str | None,
        BeforeValidator(
            cells.optional(
                cells.pattern(r"[A-Za-z0-9_.-]{1,64}", "1-64 letters, digits, '-', '_', '.'")
            )
        ),
    ] = Field(
        default=None,
        description="A throttle group (a converter, a modem pool, a cellular cell): with "
        "`[groups.NAME] max_sessions = N` never more than N of its devices are read at once, "
        "across lines; the others wait their turn (counted). Read-success figures are kept "
        "per group too. Without a `[groups.NAME]` entry the group has no limit (warned).",
    )
    list_requests: Annotated[cells.Lists, BeforeValidator(cells.list_requests)] = Field(
        default=(),
        description="Lists the meter sends for its own request starts, with the addresses "
        'each returns: `"/2: 1.8.0 2.8.0; /3: C.1.0 0.9.1"` (in TOML also `{ "/2" = '
        '["1.8.0", "2.8.0"] }`). A poll whose due signals are all in a list, and for which '
        "that list is the cheapest request, sends `/2!` instead of the readout request.",
        json_schema_extra={"shown": "none"},
    )
    register_reads: cells.Switch = Field(
        default=False,
        description="1: the meter answers register reads in programming mode (`read_command`, "
        "with the device's password as for signals read by command): a poll for which "
        "reading the due registers one by one is cheaper than the readout (few registers "
        "due, a long readout) does that. A refused password stops them until reload.",
    )
    max_baud: cells.OptBaud = Field(
        default=None,
        description="The highest rate accepted from the meter's proposal.",
        json_schema_extra={"group": "Reader options"},
    )
    force_baud: cells.OptBaud = Field(
        default=None, description="A rate to switch to whatever the meter proposes."
    )
    switch_baud: cells.Switch = Field(default=True, description="0: never switch the rate.")
    wakeup: Annotated[int, BeforeValidator(cells.wakeup_nuls)] = Field(
        default=0,
        description="NUL bytes sent first to wake a battery meter, 0-10000; `true` = 66 (the "
        "standard's 2.2 s at 300 Bd), `false` = 0.",
    )
    wakeup_delay_ms: Annotated[int, BeforeValidator(cells.int_range(0, 10_000, " ms"))] = Field(
        default=1600, description="Milliseconds to wait after the wake-up NULs (0-10000)."
    )
    request_start: Annotated[str, BeforeValidator(cells.request_start)] = Field(
        default="/?",
        description="The start of the request message (`/2`, `/#` ... for some meters).",
    )
    strip_echo: cells.Switch = Field(
        default=True, description="Drop an echo of what was sent (optical heads and RS-485 echo)."
    )
    bcc_method: Annotated[BccMethod, BeforeValidator(cells.as_bcc_method)] = Field(
        default=BccMethod.XOR, description="The block check: `xor` (the standard's) or `sum7`."
    )
    verify_bcc: cells.Switch = Field(
        default=True, description="0: accept a block whatever its check character."
    )
    repeat_requests: Annotated[int, BeforeValidator(cells.int_range(0, 10))] = Field(
        default=1, description="NAKs sent after a wrong block check (0-10)."
    )
    retries: Annotated[int, BeforeValidator(cells.int_range(0, 10))] = Field(
        default=1, description="Extra readout attempts after a failed one (0-10)."
    )
    decimal_comma: cells.Switch = Field(
        default=False, description="1: accept `7,4` in this meter's numbers."
    )
    baud_change_delay_ms: Annotated[int, BeforeValidator(cells.int_range(0, 10_000, " ms"))] = (
        Field(
            default=0,
            description="Extra milliseconds after the acknowledgement was sent, before the switch.",
        )
    )
    password_scheme: Annotated[
        str,
        BeforeValidator(
            cells.pattern(
                r"(?i)p1|p2-elster|elster|none|p2:[A-Za-z_][\w.]*:[A-Za-z_]\w*",
                "p1, p2-elster, none or p2:MODULE:FUNCTION",
            )
        ),
    ] = Field(
        default="p1",
        description="How the password is sent in programming mode: `p1`, `p2-elster`, `none`, "
        "or `p2:MODULE:FUNCTION` (a function of yours that answers the meter's seed).",
        json_schema_extra={"group": "Programming mode (signals read by command)"},
    )
    read_command: Annotated[
        str, BeforeValidator(cells.choice({c: c for c in READ_COMMANDS}, ", ".join(READ_COMMANDS)))
    ] = Field(default="R1", description="The register read command: R1-R6 (EMH meters want R5).")
    read_argument: cells.Text = Field(
        default="",
        description="What goes in the brackets of a register read (`1` for meters that want a count).",
    )
    allow_write: cells.Switch = Field(
        default=False, description="Accepted and kept; the gateway itself never writes to a meter."
    )
    password: Annotated[SecretStr | None, BeforeValidator(cells.optional(cells.as_secret))] = Field(
        default=None,
        repr=False,
        description="The programming-mode password in the file itself (warned: prefer "
        "`password_env` or `password_file`). At most one of the three; their values never "
        "appear in messages, logs or `repr`.",
    )
    password_env: Annotated[str | None, BeforeValidator(cells.optional(cells.env_name))] = Field(
        default=None,
        repr=False,
        description="The name of an environment variable holding the password, read when needed.",
    )
    password_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        repr=False,
        description="A file whose first line (without the line end) is the password, relative "
        "to the configuration's folder; warned when group or others may read it.",
    )

    profile: Annotated[str | None, BeforeValidator(cells.optional(cells.obis_address))] = Field(
        default=None,
        description="The meter's load profile, e.g. `P.01`: after a gap (the gateway was "
        "down, the meter did not answer, a shard took the line over) the gateway reads the "
        "intervals the meter recorded meanwhile, in programming mode with the password fields "
        "above, between the line's polls, and fills the history of the signals that name a "
        "`profile_channel` (mode C meters). Unset: no backfill.",
        json_schema_extra={"group": "Load profile (gap-free history)"},
    )
    profile_period_s: Annotated[int, BeforeValidator(cells.profile_period)] = Field(
        default=900,
        description="The profile's interval in seconds, as the meter records it: whole "
        "minutes that divide a day (900: 15 minutes).",
    )
    profile_command: Annotated[
        str,
        BeforeValidator(
            cells.choice({c: c for c in PROFILE_COMMANDS}, ", ".join(PROFILE_COMMANDS))
        ),
    ] = Field(
        default="R5",
        description="The read command of the profile requests: R5 (VDEW), R6, R1, R2.",
    )
    profile_timezone: Annotated[str, BeforeValidator(cells.time_zone)] = Field(
        default="local",
        description="The zone of the meter's clock, in which its profile is stamped: `local` "
        "(this machine's), `UTC`, a fixed offset such as `+01:00` (a meter that never "
        "changes to summer time) or a zone name such as `Europe/Berlin` (the profile's "
        "season flag then tells the repeated autumn hour apart).",
    )
    backfill_max_days: Annotated[int, BeforeValidator(cells.int_range(1, 366, " days"))] = Field(
        default=7,
        description="How far back a gap is filled at most, in days (1-366); a device the "
        "history has never seen gets this many days from its profile.",
    )
    backfill_chunk: Annotated[int, BeforeValidator(cells.int_range(1, 10_000))] = Field(
        default=96,
        description="Most intervals read in one programming session (1-10000). A session "
        "runs only in the line's free time before its next due poll, bounded like a poll "
        "(`total_timeout_ms`); one that does not fit is abandoned and the next reads half "
        "as many.",
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
        return url_or_port(self.url, self.ip, self.port, self.device)

    @property
    def port_key(self) -> str:
        """Devices with the same key share one line (a bus) and must take turns.

        The serial port path, or the lower-cased URL (``tcp://ip:port`` for
        ``ip`` + ``port``): :func:`port_key`.
        """
        return port_key(self.url, self.ip, self.port, self.device)

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
        secret = read_configured_password(
            f"device {self.device_alias}:", self.password_env, self.password_file
        )
        return None if secret is None else SecretStr(secret)


#: The fields that make a signal derived.
DERIVED_FIELDS = frozenset({"source", "operation"})
#: Fields of a read signal only.
READ_FIELDS = frozenset(
    {
        "tag_job_todo",
        "value_index",
        "subvalue",
        "multiply",
        "add",
        "read_by",
        "cosem_class",
        "attribute",
        "profile_channel",
    }
)
#: The guard fields (only for numbers).
GUARD_FIELDS = frozenset({"monotonic", "reset_confirm", "min_value", "max_value", "max_rate"})
#: The types guards apply to: numbers, but not switches.
GUARDED_TYPES = NUMERIC_TYPES - {NumberType.DIGITAL}


def signal_field_problems(given: set[str]) -> list[tuple[str, str]]:
    """(field, message) for fields that do not go together, from the fields given: a
    read signal needs ``tag_job_todo``; a derived one has ``source`` or ``operation``
    with ``sources``, and none of the read signal's fields."""
    problems: list[tuple[str, str]] = []
    if not given & DERIVED_FIELDS:
        if "tag_job_todo" not in given:
            problems.append(
                ("tag_job_todo", "required (or source / operation for a derived signal)")
            )
        if "sources" in given:
            problems.append(("sources", "only with operation (an expression is source)"))
        return problems
    if "source" in given and "operation" in given:
        problems.append(("operation", "give either source (an expression) or operation, not both"))
    if "operation" in given and "sources" not in given:
        problems.append(("sources", "required with operation"))
    if "source" in given and "sources" in given:
        problems.append(("sources", "only with operation (an expression names its sources)"))
    problems += [
        (name, "not for a derived signal (it is computed, not read)")
        for name in sorted(given & READ_FIELDS)
    ]
    return problems


class SignalProcessing(BaseModel):
    """What the processing stage does with one signal: derive it, guard it, hold back
    readings that did not move (fields: ``docs/configuration.md``).

    Its fields are columns of the signals table like any other; a signal keeps them in
    this model of their own, made only when one of them is given, so that the many
    signals without them stay small (``SignalConfig.processing``).

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Annotated[str | None, BeforeValidator(cells.optional(cells.expression))] = Field(
        default=None,
        description="Makes the signal derived: computed, not read, from other signals of any "
        "device whenever one of them updates, e.g. `energy_import - energy_export`, "
        "`power * -1 if status_bit(flags, 3) else power`, `sum(power_l1, power_l2, "
        "power_l3)`. Arithmetic (`+ - * / // % **`), comparisons (`< <= > >= == !=`, "
        "chained), `and`, `or`, `not`, `x if condition else y`, numbers (`12`, `0.5`, "
        "`1e3`), `True`, `False` and the functions `abs`, `round`, `floor`, `ceil`, "
        "`sqrt`, `min`, `max`, `sum`, `avg`, `median`, `status_bit(x, n)` (bit n of x, 0 = "
        "lowest), with Python's precedence and results. A name is a signal of this "
        "device (`power`), of another device (`meter2.power`), or any alias in backquotes "
        "(`` `meter-2:1.8.0` `` = device `meter-2`, signal `1.8.0`). Quality propagates: "
        "a source not topical makes the result not topical, an invalid one invalid; its "
        "time is the newest source's. A division by zero (or another result that is no "
        "number) is `invalid`, a result too large `overflow`.",
        json_schema_extra={"group": "Derived signals"},
    )
    operation: Annotated[str | None, BeforeValidator(cells.optional(cells.named(OPERATIONS)))] = (
        Field(
            default=None,
            description="Makes the signal derived from `sources` instead of an expression: `sum`, "
            "`avg`, `min`, `max`, `median` of them, or of one source its `delta` (the change "
            "since its previous valid reading) or `rate` (that change per hour: kWh -> kW). The "
            "result has the sources' unit when they share one (not for `rate`; set `unit`).",
        )
    )
    sources: Annotated[tuple[str, ...] | None, BeforeValidator(cells.optional(cells.name_list))] = (
        Field(
            default=None,
            description="The signals `operation` takes, named as in `source`: a TOML list "
            '(`["power_l1", "meter2.power"]`) or text separated by commas.',
        )
    )
    monotonic: cells.OptSwitch = Field(
        default=None,
        description="1: a total that never decreases (energy, volume, a counter): a reading "
        "lower than the last one accepted is `invalid`, logged once, unless it holds for "
        "`reset_confirm` readings (a meter exchange: then accepted and logged as a reset). "
        "0: no such check, and a value that may go down: Home Assistant discovery says "
        "`total` instead of `total_increasing`, the web view's energy view does not count "
        "it, `/metrics` makes it no counter (likewise a derived signal without "
        "`monotonic = 1`). The last accepted reading "
        "survives a restart (a state file beside the history).",
        json_schema_extra={
            "group": "Guards",
            "shown": "by unit: Wh, kWh, MWh, GWh, MJ, GJ, varh, kvarh, VAh, kVAh, m3, l; "
            "0 for a derived signal",
        },
    )
    reset_confirm: Annotated[int, BeforeValidator(cells.int_range(1, 1000))] = Field(
        default=3,
        description="Readings in a row (1-1000) that confirm a lower total as a meter reset, "
        "or a change faster than `max_rate` as a new level; each agreeing with the one "
        "before it.",
    )
    min_value: cells.OptFinite = Field(
        default=None, description="A reading below is `invalid` (logged once)."
    )
    max_value: cells.OptFinite = Field(
        default=None, description="A reading above is `invalid` (logged once)."
    )
    max_rate: Annotated[float | None, BeforeValidator(cells.optional(cells.positive_finite))] = (
        Field(
            default=None,
            description="The largest change per hour (in the signal's unit) from the last "
            "accepted reading: a reading moving faster (a spike) is `invalid` (logged once).",
        )
    )
    publish: Annotated[str, BeforeValidator(cells.named(("every", "change")))] = Field(
        default="every",
        description="`every` reading, or only on `change`: when the value moved by more "
        "than `deadband`, its quality or unit changed, or `max_silence_s` passed (a "
        "heartbeat). Held-back readings still reach the SQLite history; MQTT, PostgreSQL, "
        "HTTP, SCADA and the printed output get only the published ones.",
        json_schema_extra={"group": "Publishing", "shown": "`every`; `change` with a deadband"},
    )
    deadband: Annotated[cells.Deadband | None, BeforeValidator(cells.optional(cells.deadband))] = (
        Field(
            default=None,
            description="With `publish = change`: the smallest change published, in the "
            'signal\'s unit (`0.5`), or of the last published value (`"2%"`).',
            json_schema_extra={"shown": "none: any change"},
        )
    )
    max_silence_s: Annotated[int, BeforeValidator(cells.int_range(1, 604_800, " s"))] = Field(
        default=300,
        description="With `publish = change`: a reading is published at least this often "
        "(1 s to a week), changed or not.",
    )

    @model_validator(mode="before")
    @classmethod
    def _implied(cls, data: Any) -> Any:
        if isinstance(data, dict) and "deadband" in data and "publish" not in data:
            data = {**data, "publish": "change"}
        return data

    @model_validator(mode="after")
    def _check(self) -> SignalProcessing:
        problems: list[tuple[str, str]] = []
        low, high = self.min_value, self.max_value
        if low is not None and high is not None and high < low:
            problems.append(("max_value", f"below min_value {low:g}"))
        if self.publish != "change":
            problems += [
                (name, 'only with publish = "change"')
                for name in ("deadband", "max_silence_s")
                if name in self.model_fields_set
            ]
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        return self

    @property
    def derived(self) -> bool:
        """True for a signal computed from others (``source`` or ``operation``)."""
        return self.source is not None or self.operation is not None


#: The columns of :class:`SignalProcessing`.
PROCESSING_FIELDS = frozenset(SignalProcessing.model_fields)
#: A signal without processing columns: every default.
NO_PROCESSING = SignalProcessing()


class SignalConfig(BaseModel):
    """One value read from a device (fields: ``docs/configuration.md``).

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: cells.DeviceAlias = Field(
        description="The device the value is read from (its `device_alias`).",
        json_schema_extra={"group": "The signal"},
    )
    signal_alias: cells.SignalAlias = Field(
        description="The signal's name: 1-64 letters, digits, `-`, `_`, `.`; unique per device."
    )
    tag_job_todo: Annotated[str | None, BeforeValidator(cells.optional(cells.obis_address))] = (
        Field(
            default=None,
            description="The address exactly as the meter prints it, e.g. `1.8.0*24` for the "
            "line `1.8.0*24(0147238.4*kWh)`; no brackets, `/` or `!`. A derived signal has "
            "`source` or `operation` instead.",
            json_schema_extra={"shown": "required, unless the signal is derived"},
        )
    )
    number_type: Annotated[NumberType, BeforeValidator(cells.as_number_type)] = Field(
        description="What the value is: FLOAT, DOUBLE, DIGITAL (0/1), INT8-INT64, UINT8-UINT64, "
        "HEX, STRING, TIME, DATE, DATETIME (any case; aliases such as REAL, WORD, BOOL are "
        "accepted). A value that does not parse is `invalid`, one that does not fit its type "
        "`overflow`; fractions are never rounded into integers. A derived signal's result "
        "is a number: FLOAT, DOUBLE, DIGITAL, HEX or an integer type.",
        json_schema_extra={"shown": "required; `DOUBLE` for a derived signal"},
    )
    signal_name: cells.Text = Field(
        default="",
        description="A readable name: the web view's tooltip, Home Assistant's entity name "
        "(without one, the OBIS catalogue's label of the address, e.g. `Energy import T1`, "
        "else the alias).",
        json_schema_extra={"shown": "the alias"},
    )
    description: cells.Text = Field(
        default="",
        description="Free text, shown in the web view's tooltip (without one, the OBIS "
        "catalogue's description of the address). `obisgate init` writes the catalogue's.",
    )
    enable: cells.Switch = Field(default=True, description="0: not read, not served.")
    log: Annotated[int, BeforeValidator(cells.int_range(0, 1_000_000))] = Field(
        default=0, description="More than 0: keep the signal's history (`[storage]`)."
    )
    value_index: Annotated[
        int, BeforeValidator(cells.int_range(1, 1000, " (counted from 1: the first bracket)"))
    ] = Field(
        default=1,
        description="Which value group, counted from 1: `1.6.0(02.468*kW)(2511180930)` has the "
        "demand at 1 and its time stamp at 2.",
    )
    subvalue: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(1, 1000, " (counted from 1)")))
    ] = Field(
        default=None,
        description="Which `&` sub-value, counted from 1 (`9.4(088*C&082*C)`); none: the value "
        "before the first `&`.",
    )
    multiply: cells.Finite = Field(
        default=1.0,
        description="Scaling `value * multiply + add` (exact, decimal) for FLOAT, DOUBLE and the "
        "integer types; warned when set for another type.",
    )
    add: cells.Finite = Field(default=0.0, description="See `multiply`.")
    unit: Annotated[
        str | None, BeforeValidator(cells.optional(lambda v: normalise_unit(cells.as_text(v))))
    ] = Field(
        default=None,
        description="Replaces the unit the meter sends. Known units are written one way "
        "whoever writes them (`KWH` -> `kWh`, `m3` -> `m³`, `m3ph` -> `m³/h`, `degC` -> `°C`), "
        "as are the units meters send.",
    )
    read_by: Annotated[
        str,
        BeforeValidator(
            cells.choice({"READOUT": "readout", "COMMAND": "command"}, "readout, command")
        ),
    ] = Field(
        default="readout",
        description="`readout`, or `command` for a register the meter gives only in "
        "programming mode: after the readout the gateway signs on with the device's password, "
        "reads every such register in one session and signs off (not for push meters).",
    )
    scan_rate_ms: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(100, 86_400_000, " ms")))
    ] = Field(
        default=None,
        description="This signal's own scan period (100 ms to 1 day): power every 10 s, "
        "totals every 15 minutes. A poll reads only the signals that are due (and those due "
        "within half the device's shortest period after it), with the cheapest request "
        "that returns them (`obisgate plan CONFIG --device ALIAS` shows it). Not for push "
        "meters.",
        json_schema_extra={"shown": "the device's `scan_rate_ms`"},
    )
    cosem_class: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(1, 65535)))
    ] = Field(
        default=None,
        description="Mode E / HDLC meters only: the object's COSEM interface class (1-65535). "
        "Their `tag_job_todo` is the OBIS code in either spelling (`1-0:1.8.0*255`, or "
        "`1.8.0` = A 1, B 0, F 255); values arrive scaled in the DLMS unit (Wh, not kWh: "
        '`multiply = 0.001` and `unit = "kWh"` convert); an object the meter cannot give '
        "is `invalid`.",
        json_schema_extra={"shown": "from the meter's object list"},
    )
    attribute: Annotated[int, BeforeValidator(cells.int_range(1, 255))] = Field(
        default=2,
        description="Mode E / HDLC meters only: the attribute read, 1-255 (2: the value).",
    )
    processing: SignalProcessing | None = Field(
        default=None,
        description="The derived signal, guard and publishing columns given (none: every "
        "default); the loader and the constructor take them as columns of the signal.",
    )
    profile_channel: Annotated[str | None, BeforeValidator(cells.optional(cells.obis_address))] = (
        Field(
            default=None,
            description="The channel of the device's load profile (`profile`) that fills "
            "this signal's history after a gap, as the profile's header names it (`1.8.0`, "
            "`1.5`). Its values are converted like the readout's (`number_type`, `multiply`, "
            "`add`, `unit`) and published with their own time and the quality `backfilled`, "
            "only to the outputs that keep a history (the SQLite history, PostgreSQL, MQTT's "
            "`<prefix>/<device>/backfill`), never to a live one. Needs `log = 1`.",
            json_schema_extra={"group": "Load profile (gap-free history)"},
        )
    )
    #: The columns outputs add to signals (``modbus_address`` ...), one model per output
    #: that has any given (see :meth:`columns`); set by the loader, never a column itself.
    output_columns: tuple[BaseModel, ...] = Field(default=(), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("signal_name"):
            alias = data.get("signal_alias")
            if isinstance(alias, str):
                data = {**data, "signal_name": alias.strip()}
        columns = data.keys() & PROCESSING_FIELDS
        if columns:  # the processing columns go into a model of their own
            nested = {name: data[name] for name in columns}
            data = {k: v for k, v in data.items() if k not in columns}
            if nested.keys() & DERIVED_FIELDS:
                data.setdefault("number_type", NumberType.DOUBLE)
                nested.setdefault("monotonic", False)
            data["processing"] = nested
        return data

    @model_validator(mode="after")
    def _check_kinds(self) -> SignalConfig:
        given = set(self.model_fields_set)
        processing = self.processing
        if processing is not None:
            given |= processing.model_fields_set
        problems = signal_field_problems(given)
        if self.derived and self.number_type not in NUMERIC_TYPES:
            problems.append(
                ("number_type", f"a derived signal is a number, not {self.number_type.value}")
            )
        if self.number_type not in GUARDED_TYPES and processing is not None:
            asked = given & GUARD_FIELDS
            if not processing.monotonic:
                asked -= {"monotonic"}
            problems += [
                (name, f"only for numbers, not {self.number_type.value}") for name in sorted(asked)
            ]
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        return self

    @property
    def processed(self) -> SignalProcessing:
        """The processing columns, every default where none was given."""
        return self.processing or NO_PROCESSING

    @property
    def derived(self) -> bool:
        """True for a signal computed from others (``source`` or ``operation``)."""
        return self.processing is not None and self.processing.derived

    @property
    def source(self) -> str | None:
        """The expression of a derived signal (see :class:`SignalProcessing`)."""
        return self.processed.source

    @property
    def operation(self) -> str | None:
        """The operation of a derived signal (see :class:`SignalProcessing`)."""
        return self.processed.operation

    @property
    def sources(self) -> tuple[str, ...] | None:
        """The operation's sources (see :class:`SignalProcessing`)."""
        return self.processed.sources

    @property
    def monotonic(self) -> bool | None:
        """``monotonic`` (see :class:`SignalProcessing`)."""
        return self.processed.monotonic

    @property
    def may_decrease(self) -> bool:
        """True for a signal whose values may go down even when its unit is a total's:
        ``monotonic = 0``, or a derived signal without ``monotonic = 1`` (a net
        energy). Home Assistant discovery announces it as ``total``, not
        ``total_increasing``, and the web view's energy view does not count it."""
        monotonic = self.monotonic
        return monotonic is False or (monotonic is None and self.derived)

    def guard_rules(self) -> GuardRules | None:
        """The guards this signal configures (``None``: none given; a read number still
        gets the total-increasing guard by its unit unless ``monotonic = 0``, see
        :mod:`obisgate.gateway.processing.guards`)."""
        p = self.processing
        if p is None:
            return None
        given = p.model_fields_set & GUARD_FIELDS
        limits = given - {"monotonic", "reset_confirm"}
        by_unit = p.monotonic is None and "reset_confirm" in given
        if not limits and p.monotonic is not True and not by_unit:
            return None
        return GuardRules(
            monotonic=p.monotonic,
            reset_confirm=p.reset_confirm,
            min_value=p.min_value,
            max_value=p.max_value,
            max_rate=p.max_rate,
        )

    def publish_rules(self) -> PublishRules | None:
        """How a ``publish = "change"`` signal is published (``None``: every reading)."""
        p = self.processing
        if p is None or p.publish != "change":
            return None
        band = p.deadband or cells.Deadband(0.0)
        return PublishRules(
            deadband=band.value, percent=band.percent, max_silence_s=p.max_silence_s
        )

    def columns(self, kind: type[C]) -> C:
        """This signal's values of an output's columns (``signal.columns(ModbusColumns)``):
        the given ones, each default otherwise."""
        for columns in self.output_columns:
            if isinstance(columns, kind):
                return columns
        default = _default_columns(kind)
        assert isinstance(default, kind)  # made by kind()
        return default

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
        """This signal as the poller uses it (value group and sub-value counted from 0).

        Raises:
            ValueError: the signal is derived (it is computed, never read).
        """
        if self.tag_job_todo is None:
            raise ValueError(f"{self.device_alias}/{self.signal_alias} is derived, not read")
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
            scan_rate_s=None if self.scan_rate_ms is None else self.scan_rate_ms / 1000,
        )

    def extract(self, dataset: DataSet | None, *, decimal_comma: bool = False) -> Converted:
        """Convert this signal's value from the data set with its address.

        See :func:`obisgate.gateway.mapping.extract_value` for the qualities.
        """
        return extract_value(self.plan(decimal_comma=decimal_comma), dataset)


@functools.cache
def _default_columns(kind: type[BaseModel]) -> BaseModel:
    """Columns with every default, one object per model (they are frozen)."""
    return kind()


class StorageConfig(BaseModel):
    """Where the history of logged signals is kept.

    Attributes:
        path: the SQLite file (absolute after :func:`load_config`).
        synchronous: SQLite ``synchronous`` setting: NORMAL or FULL.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[Path, BeforeValidator(cells.as_path)] = Field(
        default=Path(DEFAULT_HISTORY_FILE),
        description="The SQLite history of logged signals, relative to the configuration's "
        "folder (a CSV directory: that directory); the MQTT outbox is kept beside it.",
    )
    synchronous: Annotated[
        Literal["NORMAL", "FULL"],
        BeforeValidator(cells.choice({"NORMAL": "NORMAL", "FULL": "FULL"}, "NORMAL, FULL")),
    ] = Field(
        default="NORMAL",
        description="SQLite `synchronous`: NORMAL (a killed process loses nothing committed) "
        "or FULL (also survives a power loss).",
    )


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
    ] = Field(
        default="jsonl",
        description="How `obisgate run` prints updates: `jsonl` (one JSON object per line), "
        "`table` (a live table) or `none`; `--format` overrides it.",
        json_schema_extra={"shown": "unset: a table on a terminal, JSON lines otherwise"},
    )


class GroupConfig(BaseModel):
    """One throttle group: how many of its devices may be read at once.

    Attributes:
        name: the group's name, as devices name it in ``group``.
        max_sessions: the most sessions open at once among its devices.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[
        str,
        BeforeValidator(
            cells.pattern(r"[A-Za-z0-9_.-]{1,64}", "1-64 letters, digits, '-', '_', '.'")
        ),
    ] = Field(
        description="The group's name, as devices give it in `group` (in TOML the table's "
        "name: `[groups.converter1]`)."
    )
    max_sessions: Annotated[int, BeforeValidator(cells.int_range(1, 100_000))] = Field(
        description="The most devices of the group read at once, across all lines (1-100000): "
        "a converter's ports, a modem pool's modems, what a cellular cell carries. A poll "
        "that finds the group full waits (counted in `/metrics`: "
        "`obisgate_group_waiting_polls_total`); a priority read waits at the head. With "
        "`run --workers`, all lines of a group are polled by the same worker, so the limit "
        "holds across workers too.",
    )


class GatewayConfig(BaseModel):
    """A whole, consistent configuration.

    Attributes:
        devices: every device, in file order (disabled ones included).
        signals: every signal, in file order.
        groups: the throttle groups with a session limit.
        storage: history database settings.
        output: output settings.
        sections: the network outputs' sections present, by name (an absent
            one: that output is off); read one with :meth:`section`.
        warnings: what :func:`load_config` warned about (never raised).
        source: the file or directory it was loaded from, if any.

    Raises:
        pydantic.ValidationError: (on construction) duplicate aliases or a
            signal naming a missing device.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    devices: tuple[DeviceConfig, ...]
    signals: tuple[SignalConfig, ...] = ()
    groups: tuple[GroupConfig, ...] = ()
    storage: StorageConfig = StorageConfig()
    output: OutputConfig = OutputConfig()
    sections: Mapping[str, SerializeAsAny[BaseModel]] = Field(default_factory=dict)
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
        names = sorted(n for n, c in Counter(g.name for g in self.groups).items() if c > 1)
        if names:
            raise ValueError(f"duplicate group: {', '.join(names)}")
        return self

    def max_sessions(self, group: str) -> int | None:
        """The session limit of a throttle group (``None``: no ``[groups.NAME]`` entry)."""
        return next((g.max_sessions for g in self.groups if g.name == group), None)

    def section(self, kind: SectionKind[S]) -> S | None:
        """An output's section (``config.section(MQTT)``), ``None`` when it is absent.

        Raises:
            TypeError: the section of that name is not of the kind's model (a
                configuration built by hand with a wrong object).
        """
        found = self.sections.get(kind.name)
        if found is None or isinstance(found, kind.model):
            return found
        raise TypeError(f"section {kind.name}: {type(found).__name__}, not {kind.model.__name__}")

    def with_section(self, kind: SectionKind[S], section: S | None) -> GatewayConfig:
        """This configuration with ``kind``'s section replaced (``None``: removed)."""
        sections = {name: s for name, s in self.sections.items() if name != kind.name}
        if section is not None:
            sections[kind.name] = section
        return self.model_copy(update={"sections": sections})

    def device(self, alias: str) -> DeviceConfig:
        """The device with this alias.

        Raises:
            KeyError: no such device.
        """
        for device in self.devices:
            if device.device_alias == alias:
                return device
        raise KeyError(alias)

    def restricted(self, aliases: Set[str]) -> GatewayConfig:
        """This configuration with only the devices ``aliases`` (and their signals and
        made readout options), without its load warnings (a shard's part to hand over)."""
        part = GatewayConfig.model_construct(
            self.model_fields_set,
            **{
                **dict(self),
                "devices": tuple(d for d in self.devices if d.device_alias in aliases),
                "signals": tuple(s for s in self.signals if s.device_alias in aliases),
                "warnings": (),
            },
        )
        part.remember_readout_options(
            {a: made for a, made in self._made_options.items() if a in aliases}
        )
        return part

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
