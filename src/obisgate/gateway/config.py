"""Gateway configuration: devices (meters), signals (values read from them), storage, output.

Load with :func:`load_config`; the file formats (TOML, Excel, CSV pair) are
described in :mod:`obisgate.gateway.config_files`. Every model is frozen and
validated; values from Excel/CSV cells may be text or numbers (``"1"``, ``1``,
``1.0`` all work for a whole number; ``1``/``0``, ``true``/``false``,
``yes``/``no`` for a switch) and an empty cell means the default.

Devices (``[[devices]]``), defaults in brackets:

* ``device_alias`` (required, unique): letters, digits, ``-``, ``_``.
* ``name`` [the alias], ``description`` [""], ``enable`` [1],
  ``protocol`` [``IEC 62056-21``; ``IEC 61107`` / ``IEC 1107`` are accepted],
  ``meter_model`` (reserved, accepted and kept).
* Where the meter is: exactly one of ``device`` (serial port path, e.g.
  ``/dev/ttyUSB0`` or ``COM3``), ``ip`` + ``port`` (raw TCP; serial settings are
  ignored; a warning when ``device`` is also given), or ``url``
  (``tcp://host:port`` or ``rfc2217://host:port``; a warning when ``device`` is
  also given; an error together with ``ip``/``port``).
* Serial line: ``baudrate`` [300] (initial rate: 300, 600, ..., 19200; in modes
  B and C the meter's proposed rate is used next), ``databits`` [7] (5-8),
  ``stopbits`` [1] (1, 1.5, 2), ``parity`` [EVEN] (NONE, EVEN, ODD or N/E/O),
  ``flowcontrol`` [NONE] (NONE, RTSCTS, XONXOFF, DSRDTR),
  ``serial_close_delay`` [400] ms to wait before closing the port,
  ``software_parity`` [0] (send 7E1 characters over an 8N1 link: TCP
  converters, modems).
* Protocol: ``serialnumber`` [0] (device address, 1-32 of 0-9 A-Z a-z space;
  ``0`` sends ``/?!``, which every meter on a shared bus may answer: warned when
  the port is shared), ``type`` [C] (mode A, B or C, passed to the reader as the
  forced mode), ``t2`` [300] ms (200-1500) before acknowledging in mode C,
  ``timeout_ms`` [2500] for the first byte of an answer, ``inter_byte_timeout_ms``
  [1500], ``poll_delay_ms`` [200] before sending anything, ``scan_rate_ms``
  [10000] (100 ms to 1 day) between readouts.
* Reader options: ``max_baud`` [none], ``force_baud`` [none], ``switch_baud`` [1]
  (0: never switch rate), ``wakeup`` [0] (number of NUL bytes sent first, 0-10000;
  ``true`` = 66, the standard's 2.2 s at 300 Bd; ``false`` = 0),
  ``wakeup_delay_ms`` [1600] after the NULs, ``request_start`` [``/?``]
  (``/2``, ``/#`` ...), ``strip_echo`` [1], ``bcc_method`` [xor] (xor, sum7),
  ``verify_bcc`` [1], ``repeat_requests`` [1] (NAKs after a wrong BCC),
  ``retries`` [1] (extra readout attempts after a failed one, 0-10),
  ``decimal_comma`` [0] (accept ``7,4`` in numbers of this meter),
  ``baud_change_delay_ms`` [0] (extra wait after the ACK drained, before the
  switch).
* Programming-mode password (future): ``password_env`` (name of an environment
  variable) or ``password_file`` (path, relative to the configuration file); a
  plain ``password`` is accepted with a warning. At most one of the three.
  Their values never appear in messages, logs or ``repr``.

Signals (``[[signals]]``):

* ``device_alias`` (required, must name a device), ``signal_alias`` (required,
  unique per device: letters, digits, ``-``, ``_``, ``.``), ``signal_name`` [the
  alias], ``description`` [""], ``enable`` [1], ``log`` [0] (> 0: keep history).
* ``tag_job_todo`` (required): the address exactly as the meter prints it,
  e.g. ``1.8.0*24`` for the line ``1.8.0*24(0147238.4*kWh)``.
* ``number_type`` (required): see :mod:`obisgate.gateway.numbers`.
* ``value_index`` [1]: which value group, counted **from 1**:
  ``1.6.0(02.468*kW)(2511180930)`` has the demand at 1 and its time stamp at 2.
* ``subvalue`` [none]: which ``&`` sub-value, counted from 1
  (``9.4(088*C&082*C)``); none = the value before the first ``&``.
* ``multiply`` [1], ``add`` [0]: scaling ``value * multiply + add`` for FLOAT,
  DOUBLE and integer types (a warning when set for another type).
* ``unit`` [none]: replaces the unit the meter sends.

``[storage]``: ``path`` [``obisgate-history.sqlite``], relative to the
configuration file's directory (the directory itself for a CSV directory);
``synchronous`` [NORMAL] (NORMAL or FULL, see :mod:`obisgate.gateway.history`).
``[output]``: ``format`` [jsonl] (jsonl, table, none). Excel and CSV
configurations always use the defaults for these two.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from obisgate import (
    BccMethod,
    ConfigError,
    DataSet,
    LineSettings,
    ProtocolMode,
    ReadoutOptions,
    Value,
)
from obisgate.gateway.config_files import (
    ConfigFileError,
    ConfigProblem,
    RawRow,
    RawTables,
    read_tables,
)
from obisgate.gateway.numbers import (
    SCALED_TYPES,
    Converted,
    NumberType,
    convert,
    parse_number_type,
)
from obisgate.gateway.quality import Quality

__all__ = [
    "DEFAULT_HISTORY_FILE",
    "ConfigFileError",
    "ConfigProblem",
    "DeviceConfig",
    "GatewayConfig",
    "OutputConfig",
    "SerialSettings",
    "SignalConfig",
    "StorageConfig",
    "load_config",
]

DEFAULT_HISTORY_FILE = "obisgate-history.sqlite"
#: NUL bytes for ``wakeup = true``: 2.2 s at 300 Bd (IEC 62056-21 Annex B).
WAKEUP_TRUE_NULS = 66
#: Fields whose values are never shown in messages.
SECRET_FIELDS = frozenset({"password", "password_env", "password_file"})
#: Fields whose error messages already quote the value.
_QUOTED_FIELDS = frozenset({"number_type"})

T = TypeVar("T")

# -- lenient cell validators ----------------------------------------------------


def _optional(fn: Callable[[object], T]) -> Callable[[object], T | None]:
    def check(value: object) -> T | None:
        return None if value is None else fn(value)

    return check


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ValueError("expected text")


_WHOLE = re.compile(r"[+-]?\d+(?:\.0*)?")


def _whole(value: object, allowed: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip().partition(".")[0])
    raise ValueError(f"expected a whole number; allowed: {allowed}")


def _int_range(low: int, high: int, unit: str = "") -> Callable[[object], int]:
    allowed = f"{low} to {high}{unit}"

    def check(value: object) -> int:
        number = _whole(value, allowed)
        if not low <= number <= high:
            raise ValueError(f"allowed: {allowed}")
        return number

    return check


def _int_choice(choices: Iterable[int]) -> Callable[[object], int]:
    options = tuple(choices)
    allowed = ", ".join(map(str, options))

    def check(value: object) -> int:
        number = _whole(value, allowed)
        if number not in options:
            raise ValueError(f"allowed: {allowed}")
        return number

    return check


_TRUE = frozenset({"1", "1.0", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "off", "n", "f"})


def _switch(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise ValueError("allowed: 1 or 0 (also true/false, yes/no)")


def _finite(value: object) -> float:
    if not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError("expected a number such as 0.001 or -5 (decimal point, not comma)")


def _choice(options: Mapping[str, str], shown: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        key = re.sub(r"[\s/_-]+", "", _text(value)).upper()
        if key in options:
            return options[key]
        raise ValueError(f"allowed: {shown}")

    return check


def _pattern(regex: str, what: str) -> Callable[[object], str]:
    compiled = re.compile(regex)

    def check(value: object) -> str:
        text = _text(value)
        if not compiled.fullmatch(text):
            raise ValueError(what)
        return text

    return check


def _wakeup(value: object) -> int:
    if isinstance(value, bool):
        return WAKEUP_TRUE_NULS if value else 0
    if isinstance(value, str) and value.strip().lower() in _TRUE - {"1", "1.0"}:
        return WAKEUP_TRUE_NULS
    if isinstance(value, str) and value.strip().lower() in _FALSE - {"0", "0.0"}:
        return 0
    return _int_range(0, 10000, " NUL bytes, or true (= 66) / false")(value)


def _host(value: object) -> str:
    text = _text(value).removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", text):
            raise ValueError("expected an IP address or host name") from None
    return text


_URL = re.compile(r"(tcp|rfc2217)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})/?")


def _url(value: object) -> str:
    text = _text(value)
    match = _URL.fullmatch(text)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ValueError("allowed: tcp://HOST:PORT or rfc2217://HOST:PORT (port 1-65535)")
    return text


def _request_start(value: object) -> str:
    text = _text(value)
    if not text.startswith("/") or any(c in text[1:] for c in "/!\r\n"):
        raise ValueError("must start with '/' and contain no other '/' or '!' (e.g. /? or /2)")
    return text


def _address(value: object) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    bad = sorted({c for c in text if c in "()/!\r\n"})
    if bad:
        raise ValueError(
            f"the address only, as the meter prints it before '(' (no {' '.join(bad)})"
        )
    return text


def _number_type(value: object) -> NumberType:
    if isinstance(value, NumberType):
        return value
    try:
        return parse_number_type(_text(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _bcc(value: object) -> BccMethod:
    if isinstance(value, BccMethod):
        return value
    key = _text(value).lower()
    try:
        return BccMethod(key)
    except ValueError:
        raise ValueError("allowed: xor, sum7") from None


def _secret(value: object) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return SecretStr(_text(value))
    raise ValueError("expected text")


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    text = _text(value)
    if not text:
        raise ValueError("expected a file path")
    return Path(text)


def _env_name(value: object) -> str:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise ValueError("expected an environment variable name (letters, digits, _)")
    return text


#: Rates of the baud-rate identification characters 0-6.
_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)

Text = Annotated[str, BeforeValidator(_text)]
OptText = Annotated[str | None, BeforeValidator(_optional(_text))]
Switch = Annotated[bool, BeforeValidator(_switch)]
Baud = Annotated[int, BeforeValidator(_int_choice(_BAUDS))]
OptBaud = Annotated[int | None, BeforeValidator(_optional(_int_choice(_BAUDS)))]
Millis = Annotated[int, BeforeValidator(_int_range(0, 600_000, " ms"))]
Finite = Annotated[float, BeforeValidator(_finite)]
DeviceAlias = Annotated[
    str,
    BeforeValidator(_pattern(r"[A-Za-z0-9_-]{1,64}", "1-64 letters, digits, '-', '_'")),
]
SignalAlias = Annotated[
    str,
    BeforeValidator(_pattern(r"[A-Za-z0-9_.-]{1,64}", "1-64 letters, digits, '-', '_', '.'")),
]

_PARITY = {"NONE": "NONE", "N": "NONE", "EVEN": "EVEN", "E": "EVEN", "ODD": "ODD", "O": "ODD"}
_FLOW = {
    "NONE": "NONE", "RTSCTS": "RTSCTS", "HARDWARE": "RTSCTS", "XONXOFF": "XONXOFF",
    "SOFTWARE": "XONXOFF", "DSRDTR": "DSRDTR",
}  # fmt: skip
_PROTOCOL = {"IEC6205621": "IEC 62056-21", "IEC61107": "IEC 62056-21", "IEC1107": "IEC 62056-21"}
_MODES = {"A": "A", "B": "B", "C": "C"}


# -- models -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of a serial port (also sent over RFC 2217).

    Attributes:
        baudrate: the initial rate.
        databits: 5-8.
        parity: NONE, EVEN or ODD.
        stopbits: 1, 1.5 or 2.
        flowcontrol: NONE, RTSCTS, XONXOFF or DSRDTR.
    """

    baudrate: int
    databits: int
    parity: str
    stopbits: float
    flowcontrol: str


def _connection_problems(given: set[str]) -> list[tuple[str | None, str]]:
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


class DeviceConfig(BaseModel):
    """One meter and how to reach and read it (fields: see the module docstring).

    For the poller: :attr:`url_or_port` (for ``open_transport``),
    :attr:`port_key` (devices sharing a line), :meth:`line_settings` and
    :meth:`readout_options` build what the transport and reader need.

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: DeviceAlias
    name: Text = ""
    description: Text = ""
    enable: Switch = True
    protocol: Annotated[
        str, BeforeValidator(_choice(_PROTOCOL, "IEC 62056-21 (or IEC 61107, IEC 1107)"))
    ] = "IEC 62056-21"
    meter_model: OptText = None
    device: OptText = None
    ip: Annotated[str | None, BeforeValidator(_optional(_host))] = None
    port: Annotated[int | None, BeforeValidator(_optional(_int_range(1, 65535)))] = None
    url: Annotated[str | None, BeforeValidator(_optional(_url))] = None
    baudrate: Baud = 300
    databits: Annotated[int, BeforeValidator(_int_choice((5, 6, 7, 8)))] = 7
    stopbits: Annotated[float, BeforeValidator(lambda v: _float_choice(v, (1.0, 1.5, 2.0)))] = 1.0
    parity: Annotated[str, BeforeValidator(_choice(_PARITY, "NONE, EVEN, ODD (or N, E, O)"))] = (
        "EVEN"
    )
    flowcontrol: Annotated[
        str, BeforeValidator(_choice(_FLOW, "NONE, RTSCTS, XONXOFF, DSRDTR"))
    ] = "NONE"
    serial_close_delay: Millis = 400
    software_parity: Switch = False
    serialnumber: Annotated[
        str,
        BeforeValidator(
            _pattern(r"[0-9A-Za-z ]{1,32}", "1-32 of 0-9, A-Z, a-z, space (0 = no address)")
        ),
    ] = "0"
    type: Annotated[str, BeforeValidator(_choice(_MODES, "A, B, C"))] = "C"
    t2: Annotated[int, BeforeValidator(_int_range(200, 1500, " ms"))] = 300
    timeout_ms: Annotated[int, BeforeValidator(_int_range(10, 600_000, " ms"))] = 2500
    inter_byte_timeout_ms: Annotated[int, BeforeValidator(_int_range(10, 600_000, " ms"))] = 1500
    poll_delay_ms: Millis = 200
    scan_rate_ms: Annotated[int, BeforeValidator(_int_range(100, 86_400_000, " ms"))] = 10000
    max_baud: OptBaud = None
    force_baud: OptBaud = None
    switch_baud: Switch = True
    wakeup: Annotated[int, BeforeValidator(_wakeup)] = 0
    wakeup_delay_ms: Annotated[int, BeforeValidator(_int_range(0, 10_000, " ms"))] = 1600
    request_start: Annotated[str, BeforeValidator(_request_start)] = "/?"
    strip_echo: Switch = True
    bcc_method: Annotated[BccMethod, BeforeValidator(_bcc)] = BccMethod.XOR
    verify_bcc: Switch = True
    repeat_requests: Annotated[int, BeforeValidator(_int_range(0, 10))] = 1
    retries: Annotated[int, BeforeValidator(_int_range(0, 10))] = 1
    decimal_comma: Switch = False
    baud_change_delay_ms: Annotated[int, BeforeValidator(_int_range(0, 10_000, " ms"))] = 0
    password: Annotated[SecretStr | None, BeforeValidator(_optional(_secret))] = Field(
        default=None, repr=False
    )
    password_env: Annotated[str | None, BeforeValidator(_optional(_env_name))] = Field(
        default=None, repr=False
    )
    password_file: Annotated[Path | None, BeforeValidator(_optional(_path))] = Field(
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
        problems = _connection_problems(given)
        if problems:
            raise ValueError("; ".join(f"{f}: {m}" if f else m for f, m in problems))
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

    @property
    def serial_settings(self) -> SerialSettings | None:
        """Line settings for ``serial`` and ``rfc2217``; ``None`` over raw TCP.

        :meth:`line_settings` gives the transport's ``LineSettings`` directly.
        """
        if self.transport == "tcp":
            return None
        return SerialSettings(
            self.baudrate, self.databits, self.parity, self.stopbits, self.flowcontrol
        )

    def line_settings(self) -> LineSettings:
        """Line settings for the transport (raw TCP uses only the nominal rate and
        ``software_parity``)."""
        return LineSettings(
            baudrate=self.baudrate,
            bytesize=self.databits,
            parity=self.parity,
            stopbits=self.stopbits,
            flowcontrol=self.flowcontrol,
            software_parity=self.software_parity,
        )

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

        Read when called, never at load time. A file's trailing line break is dropped.

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
                text = self.password_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise ConfigError(
                    f"device {self.device_alias}: cannot read the password_file"
                ) from None
            return SecretStr(text.rstrip("\r\n"))
        return None


def _float_choice(value: object, options: tuple[float, ...]) -> float:
    allowed = ", ".join(f"{o:g}" for o in options)
    try:
        number = _finite(value)
    except ValueError:
        raise ValueError(f"allowed: {allowed}") from None
    if number not in options:
        raise ValueError(f"allowed: {allowed}")
    return number


class SignalConfig(BaseModel):
    """One value read from a device (fields: see the module docstring).

    Raises:
        pydantic.ValidationError: (on construction) invalid fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_alias: DeviceAlias
    signal_alias: SignalAlias
    tag_job_todo: Annotated[str, BeforeValidator(_address)]
    number_type: Annotated[NumberType, BeforeValidator(_number_type)]
    signal_name: Text = ""
    description: Text = ""
    enable: Switch = True
    log: Annotated[int, BeforeValidator(_int_range(0, 1_000_000))] = 0
    value_index: Annotated[
        int, BeforeValidator(_int_range(1, 1000, " (counted from 1: the first bracket)"))
    ] = 1
    subvalue: Annotated[
        int | None, BeforeValidator(_optional(_int_range(1, 1000, " (counted from 1)")))
    ] = None
    multiply: Finite = 1.0
    add: Finite = 0.0
    unit: OptText = None

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

    def pick(self, dataset: DataSet) -> Value | None:
        """The value group (and ``&`` sub-value) this signal reads, or ``None`` if absent."""
        if self.value_index > len(dataset.values):
            return None
        value = dataset.values[self.value_index - 1]
        if self.subvalue is None:
            return value
        parts = value.subvalues
        return parts[self.subvalue - 1] if self.subvalue <= len(parts) else None

    def extract(self, dataset: DataSet | None, *, decimal_comma: bool = False) -> Converted:
        """Convert this signal's value from the data set with its address.

        Args:
            dataset: the data set whose address is :attr:`tag_job_todo`, or
                ``None`` when the readout did not contain it.
            decimal_comma: the device's ``decimal_comma`` option.

        Returns:
            The converted value. NOT_TOPICAL (value ``None``) when ``dataset``
            is ``None``; INVALID when the value group or sub-value is missing;
            otherwise as :func:`~obisgate.gateway.numbers.convert`.
        """
        if dataset is None:
            return Converted(
                None, Quality.NOT_TOPICAL, self.unit, "", f"{self.tag_job_todo} not in readout"
            )
        value = self.pick(dataset)
        if value is None:
            where = f"value group {self.value_index}"
            if self.subvalue is not None:
                where += f" sub-value {self.subvalue}"
            return Converted(
                None, Quality.INVALID, self.unit, "", f"{self.tag_job_todo} has no {where}"
            )
        return convert(
            value,
            self.number_type,
            multiply=self.multiply,
            add=self.add,
            decimal_comma=decimal_comma,
            unit=self.unit,
        )


class StorageConfig(BaseModel):
    """Where the history of logged signals is kept.

    Attributes:
        path: the SQLite file (absolute after :func:`load_config`).
        synchronous: SQLite ``synchronous`` setting: NORMAL or FULL.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[Path, BeforeValidator(_path)] = Path(DEFAULT_HISTORY_FILE)
    synchronous: Annotated[
        Literal["NORMAL", "FULL"],
        BeforeValidator(_choice({"NORMAL": "NORMAL", "FULL": "FULL"}, "NORMAL, FULL")),
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
            _choice({"JSONL": "jsonl", "TABLE": "table", "NONE": "none"}, "jsonl, table, none")
        ),
    ] = "jsonl"


class GatewayConfig(BaseModel):
    """A whole, consistent configuration.

    Attributes:
        devices: every device, in file order (disabled ones included).
        signals: every signal, in file order.
        storage: history database settings.
        output: output settings.
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
    warnings: tuple[ConfigProblem, ...] = ()
    source: Path | None = None

    @model_validator(mode="after")
    def _check_references(self) -> GatewayConfig:
        aliases = [d.device_alias for d in self.devices]
        duplicates = sorted({a for a in aliases if aliases.count(a) > 1})
        if duplicates:
            raise ValueError(f"duplicate device_alias: {', '.join(duplicates)}")
        keys = [s.key for s in self.signals]
        dup_keys = sorted({k for k in keys if keys.count(k) > 1})
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

    @property
    def enabled_devices(self) -> tuple[DeviceConfig, ...]:
        """Devices with ``enable = 1``."""
        return tuple(d for d in self.devices if d.enable)

    def signals_for(
        self, device_alias: str, *, enabled_only: bool = True
    ) -> tuple[SignalConfig, ...]:
        """The signals of a device, in file order (only enabled ones by default)."""
        return tuple(
            s
            for s in self.signals
            if s.device_alias == device_alias and (s.enable or not enabled_only)
        )

    @property
    def logged_signals(self) -> tuple[SignalConfig, ...]:
        """Enabled signals with ``log > 0`` on enabled devices."""
        enabled = {d.device_alias for d in self.devices if d.enable}
        return tuple(s for s in self.signals if s.enable and s.logged and s.device_alias in enabled)


# -- loading ------------------------------------------------------------------

_ALLOWED: dict[str, frozenset[str]] = {
    "devices": frozenset(DeviceConfig.model_fields),
    "signals": frozenset(SignalConfig.model_fields),
    "storage": frozenset(StorageConfig.model_fields),
    "output": frozenset(OutputConfig.model_fields),
}


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Load and validate a gateway configuration.

    Args:
        path: a TOML file (the default for any name that is not ``.xlsx``,
            ``.xlsm`` or ``.csv``), an Excel workbook, one ``.csv`` file of a
            ``*devices*``/``*signals*`` pair, or a directory holding
            ``devices.csv`` and ``signals.csv``.

    Returns:
        The configuration, with warnings in :attr:`GatewayConfig.warnings`.
        Relative ``storage.path`` and ``password_file`` are resolved against
        the configuration's directory.

    Raises:
        ConfigFileError: the file is missing or unreadable, or has one or more
            errors; ``.problems`` lists all of them (file, row or line, field,
            what is allowed) and ``str()`` gives one line per problem.
    """
    source = Path(path)
    if not source.exists():
        raise ConfigFileError([ConfigProblem(str(source), "no such file or directory")])
    tables = read_tables(source, _ALLOWED)
    return _Builder(tables).build()


class _Builder:
    """Validates raw rows into models, collecting every problem."""

    def __init__(self, tables: RawTables) -> None:
        self.tables = tables
        self.problems = list(tables.problems)
        self.warnings = list(tables.warnings)

    def build(self) -> GatewayConfig:
        devices = self._devices()
        signals = self._signals()
        storage = self._single("storage", StorageConfig)
        output = self._single("output", OutputConfig)
        if not self.tables.devices and not self.tables.problems:
            self.problems.append(
                ConfigProblem(str(self.tables.source), "no devices: add at least one device")
            )
        self._shared_bus_warnings(devices)
        if self.problems:
            raise ConfigFileError(_in_file_order(self.problems), _in_file_order(self.warnings))
        assert isinstance(storage, StorageConfig)
        assert isinstance(output, OutputConfig)
        path = storage.path.expanduser()
        if not path.is_absolute():
            storage = storage.model_copy(update={"path": self.tables.base_dir / path})
        return GatewayConfig(
            devices=tuple(devices.values()),
            signals=tuple(signals),
            storage=storage,
            output=output,
            warnings=tuple(_in_file_order(self.warnings)),
            source=self.tables.source,
        )

    def _validate(
        self,
        row: RawRow,
        model: type[BaseModel],
        fields: dict[str, object],
        *,
        skip_row_errors: bool = False,
    ) -> Any:
        """The model, or ``None`` after recording its problems.

        ``skip_row_errors`` drops errors not tied to a field (already reported
        from the raw fields).
        """
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"]
                name = str(loc[0]) if loc else None
                if name is None and skip_row_errors:
                    continue
                self.problems.append(row.problem(_error_text(name, error), name))
            return None

    def _devices(self) -> dict[str, DeviceConfig]:
        devices: dict[str, DeviceConfig] = {}
        first_row: dict[str, RawRow] = {}
        for row in self.tables.devices:
            fields = dict(row.fields)
            file = fields.get("password_file")
            if isinstance(file, str) and not Path(file).expanduser().is_absolute():
                fields["password_file"] = str(self.tables.base_dir / Path(file).expanduser())
            raw_problems = _connection_problems(set(fields))
            for name, message in raw_problems:
                self.problems.append(row.problem(message, name))
            device = self._validate(row, DeviceConfig, fields, skip_row_errors=bool(raw_problems))
            alias = _alias_key(fields.get("device_alias"))
            if alias is not None:
                if alias in first_row:
                    self.problems.append(
                        row.problem(
                            f"{alias!r} is already used by {first_row[alias].describe()}",
                            "device_alias",
                        )
                    )
                    continue
                first_row[alias] = row
            if isinstance(device, DeviceConfig):
                self._device_checks(row, device)
                devices[device.device_alias] = device
        self._device_rows = first_row
        return devices

    _device_rows: dict[str, RawRow]

    def _device_checks(self, row: RawRow, device: DeviceConfig) -> None:
        if device.device is not None and device.transport != "serial":
            via = "url" if device.url is not None else "ip + port"
            self.warnings.append(
                row.problem(
                    f"both device and {via} given: using {via}, device is ignored", "device"
                )
            )
        if device.password is not None:
            self.warnings.append(
                row.problem(
                    "plain password in the configuration file; prefer password_env "
                    "or password_file",
                    "password",
                )
            )
        try:
            device.readout_options()
        except ConfigError as exc:
            self.problems.append(row.problem(str(exc)))

    def _signals(self) -> list[SignalConfig]:
        signals: list[SignalConfig] = []
        first_row: dict[tuple[str, str], RawRow] = {}
        known = self._device_rows
        for row in self.tables.signals:
            signal = self._validate(row, SignalConfig, row.fields)
            device_alias = _alias_key(row.fields.get("device_alias"))
            signal_alias = _alias_key(row.fields.get("signal_alias"))
            if device_alias is not None and device_alias not in known:
                names = ", ".join(sorted(known)[:10]) or "none"
                self.problems.append(
                    row.problem(f"no device {device_alias!r}; devices: {names}", "device_alias")
                )
                continue
            if device_alias is not None and signal_alias is not None:
                key = (device_alias, signal_alias)
                if key in first_row:
                    self.problems.append(
                        row.problem(
                            f"{signal_alias!r} is already used for device {device_alias!r} "
                            f"by {first_row[key].describe()}",
                            "signal_alias",
                        )
                    )
                    continue
                first_row[key] = row
            if isinstance(signal, SignalConfig):
                if signal.number_type not in SCALED_TYPES and (
                    signal.multiply != 1 or signal.add != 0
                ):
                    self.warnings.append(
                        row.problem(
                            f"multiply/add are ignored for {signal.number_type.value}",
                            "multiply" if signal.multiply != 1 else "add",
                        )
                    )
                signals.append(signal)
        return signals

    def _single(self, table: str, model: type[BaseModel]) -> BaseModel | None:
        row = self.tables.single.get(table)
        if row is None:
            return model()
        result: BaseModel | None = self._validate(row, model, row.fields)
        return result

    def _shared_bus_warnings(self, devices: Mapping[str, DeviceConfig]) -> None:
        rows = self._device_rows
        by_port: dict[str, list[DeviceConfig]] = {}
        for device in devices.values():
            if not device.enable:
                continue
            by_port.setdefault(device.url_or_port, []).append(device)
        for port, group in by_port.items():
            if len(group) < 2:
                continue
            others = ", ".join(d.device_alias for d in group)
            seen: dict[str, str] = {}
            for device in group:
                row = rows[device.device_alias]
                if device.address == "":
                    self.warnings.append(
                        row.problem(
                            f"serialnumber 0 sends /?! on {port}, shared with {others}: "
                            "every meter on the bus may answer",
                            "serialnumber",
                        )
                    )
                elif device.address in seen:
                    self.warnings.append(
                        row.problem(
                            f"serialnumber {device.serialnumber} is also used by "
                            f"{seen[device.address]} on {port}",
                            "serialnumber",
                        )
                    )
                else:
                    seen[device.address] = device.device_alias


def _in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Stable sort by file (first appearance) and line; problems without a line keep
    their place relative to each other."""
    files: dict[str, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    return sorted(problems, key=lambda p: (files[p.file], p.line or 0))


def _alias_key(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _text(value)
    return None


def _error_text(field: str | None, error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return "required field is missing"
    if field is None:
        return message
    value = error.get("input")
    if (
        field in SECRET_FIELDS
        or field in _QUOTED_FIELDS
        or not isinstance(value, str | int | float | bool)
    ):
        return message
    return f"got {value!r}; {message}"
