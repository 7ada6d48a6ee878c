"""Lenient validators for configuration cells: text or numbers from TOML, Excel or CSV.

Each validator takes what a file gives (``"1"``, ``1``, ``1.0``, ``" 1 "``,
``True``) and returns the field's value, or raises ``ValueError`` whose
message says what is allowed (pydantic turns it into a field error; the
configuration loader adds the value received, except for secret fields).
Empty cells never reach them: the readers drop blank values so that the
model's default applies.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, NamedTuple, TypeVar

from pydantic import BeforeValidator, SecretStr

from obisgate import BccMethod, ConfigError
from obisgate.errors import ExpressionError
from obisgate.gateway.backfill.times import divides_a_day, meter_zone
from obisgate.gateway.numbers import NumberType, parse_number_type
from obisgate.gateway.processing.expression import parse as parse_expression

#: NUL bytes for ``wakeup = true``: 2.2 s at 300 Bd (IEC 62056-21 Annex B).
WAKEUP_TRUE_NULS = 66

T = TypeVar("T")


def optional(fn: Callable[[object], T]) -> Callable[[object], T | None]:
    """Wrap a validator so that ``None`` passes through (programmatic defaults)."""

    def check(value: object) -> T | None:
        return None if value is None else fn(value)

    return check


def alias_key(value: object) -> str | None:
    """A raw alias cell as rows are matched by it (stripped text, a number's text);
    ``None`` when it is blank or neither text nor a number."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return as_text(value)
    return None


def as_text(value: object) -> str:
    """Text, stripped; numbers become their text (``12345678.0`` -> ``"12345678"``).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ValueError("expected text")


_WHOLE = re.compile(r"[+-]?\d+(?:\.0*)?")


def as_whole(value: object, allowed: str) -> int:
    """A whole number from ``1``, ``1.0``, ``"1"`` or ``"1.0"``; ``allowed`` goes into the message.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip().partition(".")[0])
    raise ValueError(f"expected a whole number; allowed: {allowed}")


def int_range(low: int, high: int, unit: str = "") -> Callable[[object], int]:
    """A validator for whole numbers from ``low`` to ``high``."""
    allowed = f"{low} to {high}{unit}"

    def check(value: object) -> int:
        number = as_whole(value, allowed)
        if not low <= number <= high:
            raise ValueError(f"allowed: {allowed}")
        return number

    return check


def int_choice(choices: Iterable[int]) -> Callable[[object], int]:
    """A validator for whole numbers out of ``choices``."""
    options = tuple(choices)
    allowed = ", ".join(map(str, options))

    def check(value: object) -> int:
        number = as_whole(value, allowed)
        if number not in options:
            raise ValueError(f"allowed: {allowed}")
        return number

    return check


_TRUE = frozenset({"1", "1.0", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "off", "n", "f"})


def as_switch(value: object) -> bool:
    """``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off`` (any case) as ``bool``.

    Raises:
        ValueError: not allowed; the message says what is.
    """
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


def as_finite(value: object) -> float:
    """A finite number from a number or text with a decimal point.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError("expected a number such as 0.001 or -5 (decimal point, not comma)")


def choice(options: Mapping[str, str], shown: str) -> Callable[[object], str]:
    """A validator: normalized text (upper case; blanks, ``/``, ``_``, ``-`` removed) -> canonical value."""

    def check(value: object) -> str:
        key = re.sub(r"[\s/_-]+", "", as_text(value)).upper()
        if key in options:
            return options[key]
        raise ValueError(f"allowed: {shown}")

    return check


def pattern(regex: str, what: str) -> Callable[[object], str]:
    """A validator for text matching ``regex`` entirely; ``what`` describes it."""
    compiled = re.compile(regex)

    def check(value: object) -> str:
        text = as_text(value)
        if not compiled.fullmatch(text):
            raise ValueError(what)
        return text

    return check


def wakeup_nuls(value: object) -> int:
    """NUL count for ``wakeup``: a number 0-10000, or ``true`` (66) / ``false`` (0).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, bool):
        return WAKEUP_TRUE_NULS if value else 0
    if isinstance(value, str) and value.strip().lower() in _TRUE - {"1", "1.0"}:
        return WAKEUP_TRUE_NULS
    if isinstance(value, str) and value.strip().lower() in _FALSE - {"0", "0.0"}:
        return 0
    return int_range(0, 10000, " NUL bytes, or true (= 66) / false")(value)


def host_name(value: object) -> str:
    """An IP address (IPv6 with or without brackets) or a host name.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value).removeprefix("[").removesuffix("]")
    if _HOST_NAME.fullmatch(text):  # also every IPv4 address: no need to parse it
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("expected an IP address or host name") from None
    return text


_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


_URL = re.compile(r"(tcp|rfc2217)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})/?")


def network_url(value: object) -> str:
    """``tcp://host:port`` or ``rfc2217://host:port``.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value)
    match = _URL.fullmatch(text)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ValueError("allowed: tcp://HOST:PORT or rfc2217://HOST:PORT (port 1-65535)")
    return text


def request_start(value: object) -> str:
    """A request start such as ``/?``, ``/2`` or ``/#``.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value)
    if not text.startswith("/") or any(c in text[1:] for c in "/!\r\n"):
        raise ValueError("must start with '/' and contain no other '/' or '!' (e.g. /? or /2)")
    return text


def obis_address(value: object) -> str:
    """A data set address as the meter prints it: no brackets, ``/`` or ``!``.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value)
    if not text:
        raise ValueError("must not be empty")
    bad = sorted({c for c in text if c in "()/!\r\n"})
    if bad:
        raise ValueError(
            f"the address only, as the meter prints it before '(' (no {' '.join(bad)})"
        )
    return text


#: A device's lists: ``((request start, (address, ...)), ...)``.
Lists = tuple[tuple[str, tuple[str, ...]], ...]


def list_requests(value: object) -> Lists:
    """The lists a meter offers: ``"/2: 1.8.0 2.8.0; /3: C.1.0"`` (a request start, ``:``,
    the addresses it returns separated by blanks or commas; lists separated by ``;``),
    or in TOML a table ``{ "/2" = ["1.8.0", "2.8.0"] }``.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, tuple):
        return value  # already parsed (a model copied)
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    else:
        text = as_text(value)
        items = []
        for part in text.split(";"):
            if not part.strip():
                continue
            start, colon, rest = part.partition(":")
            if not colon:
                raise ValueError(
                    f"{part.strip()!r}: expected a request start, ':' and its addresses "
                    "(e.g. /2: 1.8.0 2.8.0; /3: C.1.0)"
                )
            items.append((start, rest))
    lists: list[tuple[str, tuple[str, ...]]] = []
    for raw_start, raw_tags in items:
        start = request_start(raw_start)
        if start == "/?":
            raise ValueError("/? is the readout itself, not a list")
        if any(start == seen for seen, _ in lists):
            raise ValueError(f"{start} is given twice")
        if isinstance(raw_tags, str):
            words = raw_tags.replace(",", " ").split()
        elif isinstance(raw_tags, list | tuple):
            words = [as_text(tag) for tag in raw_tags]
        else:
            raise ValueError(f"{start}: expected its addresses as text or a list")  # noqa: TRY004 - pydantic reports ValueError
        if not words:
            raise ValueError(f"{start}: no addresses (which data sets does it return?)")
        lists.append((start, tuple(dict.fromkeys(obis_address(word) for word in words))))
    if not lists:
        raise ValueError("no list: e.g. /2: 1.8.0 2.8.0")
    return tuple(lists)


def as_number_type(value: object) -> NumberType:
    """A :class:`NumberType` from its name or an alias.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, NumberType):
        return value
    try:
        return parse_number_type(as_text(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def as_bcc_method(value: object) -> BccMethod:
    """``xor`` or ``sum7`` (any case).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, BccMethod):
        return value
    key = as_text(value).lower()
    try:
        return BccMethod(key)
    except ValueError:
        raise ValueError("allowed: xor, sum7") from None


def as_secret(value: object) -> SecretStr:
    """A password as ``SecretStr``; messages never contain it.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return SecretStr(as_text(value))
    raise ValueError("expected text")


def as_path(value: object) -> Path:
    """A file path from text.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, Path):
        return value
    text = as_text(value)
    if not text:
        raise ValueError("expected a file path")
    return Path(text)


def time_zone(value: object) -> str:
    """A meter clock's zone: ``local``, ``UTC``, ``+HH:MM`` or a zone name (kept as given).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value)
    meter_zone(text)
    return text


def profile_period(value: object) -> int:
    """A load profile's interval in seconds: whole minutes that divide a day.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    seconds = int_range(60, 86_400, " s")(value)
    if not divides_a_day(seconds):
        raise ValueError(
            "whole minutes that divide a day (60, 300, 600, 900, 1800, 3600 ... 86400)"
        )
    return seconds


def env_name(value: object) -> str:
    """An environment variable name.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    text = as_text(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise ValueError("expected an environment variable name (letters, digits, _)")
    return text


#: Rates of the baud-rate identification characters 0-6.
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)

Text = Annotated[str, BeforeValidator(as_text)]
OptText = Annotated[str | None, BeforeValidator(optional(as_text))]
Switch = Annotated[bool, BeforeValidator(as_switch)]
Baud = Annotated[int, BeforeValidator(int_choice(BAUDS))]
OptBaud = Annotated[int | None, BeforeValidator(optional(int_choice(BAUDS)))]
Millis = Annotated[int, BeforeValidator(int_range(0, 600_000, " ms"))]
Finite = Annotated[float, BeforeValidator(as_finite)]
DeviceAlias = Annotated[
    str,
    BeforeValidator(pattern(r"[A-Za-z0-9_-]{1,64}", "1-64 letters, digits, '-', '_'")),
]
SignalAlias = Annotated[
    str,
    BeforeValidator(pattern(r"[A-Za-z0-9_.-]{1,64}", "1-64 letters, digits, '-', '_', '.'")),
]

PARITY = {"NONE": "NONE", "N": "NONE", "EVEN": "EVEN", "E": "EVEN", "ODD": "ODD", "O": "ODD"}
FLOW = {
    "NONE": "NONE", "RTSCTS": "RTSCTS", "HARDWARE": "RTSCTS", "XONXOFF": "XONXOFF",
    "SOFTWARE": "XONXOFF", "DSRDTR": "DSRDTR",
}  # fmt: skip
PROTOCOL = {"IEC6205621": "IEC 62056-21", "IEC61107": "IEC 62056-21", "IEC1107": "IEC 62056-21"}
MODES = {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E", "HDLC": "HDLC"}


def float_choice(value: object, options: tuple[float, ...]) -> float:
    """A number out of ``options`` (stop bits).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    allowed = ", ".join(f"{o:g}" for o in options)
    try:
        number = as_finite(value)
    except ValueError:
        raise ValueError(f"allowed: {allowed}") from None
    if number not in options:
        raise ValueError(f"allowed: {allowed}")
    return number


def named(options: tuple[str, ...], *, upper: bool = False) -> Callable[[object], str]:
    """A validator of one name out of ``options`` (matched in lower case, or upper
    case with ``upper``); empty text is ``none`` when that is one of them."""

    def check(value: object) -> str:
        text = as_text(value)
        key = text.upper() if upper else text.lower()
        if key == "" and "none" in options:
            return "none"
        if key in options:
            return key
        raise ValueError("allowed: " + ", ".join(options))

    return check


def expression(value: object) -> str:
    """A derived signal's expression (``source``), checked by its parser.

    Raises:
        ValueError: not an expression; the message names the column
            (``column 7: unexpected ')'``).
    """
    text = as_text(value)
    try:
        parse_expression(text)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return text


def name_list(value: object) -> tuple[str, ...]:
    """Signal names: a list (TOML) or text separated by commas or semicolons (a cell).

    Raises:
        ValueError: an empty name, or something else than text.
    """
    if isinstance(value, list | tuple):
        items = [as_text(item) for item in value]
    else:
        items = [part.strip() for part in re.split(r"[,;]", as_text(value))]
    if not items or any(not item for item in items):
        raise ValueError("expected signal names separated by commas (an empty one is not)")
    return tuple(items)


class Deadband(NamedTuple):
    """A deadband: ``value`` in the signal's unit, or a percentage of the last published
    value's magnitude (``percent``)."""

    value: float
    percent: bool = False


def deadband(value: object) -> Deadband:
    """``0.5`` (in the signal's unit) or ``"2%"`` (of the last published value); not negative.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, Deadband):
        return value
    text = value.strip() if isinstance(value, str) else value
    percent = isinstance(text, str) and text.endswith("%")
    if isinstance(text, str) and percent:
        text = text[:-1].strip()
    try:
        number = as_finite(text)
    except ValueError:
        raise ValueError(
            "expected a number (0.5, in the signal's unit) or a percentage (2%)"
        ) from None
    if number < 0:
        raise ValueError("a deadband is not negative")
    return Deadband(number, percent)


def positive_finite(value: object) -> float:
    """A finite number above 0.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    number = as_finite(value)
    if number <= 0:
        raise ValueError("expected a number above 0")
    return number


OptSwitch = Annotated[bool | None, BeforeValidator(optional(as_switch))]
OptFinite = Annotated[float | None, BeforeValidator(optional(as_finite))]
