"""Meter profiles from files: a TOML profile, or a captured readout as text.

TOML profile (every key optional except where said)::

    name = "office-meter"                # default: the file name without suffix
    base = "mt174"                       # start from a built-in profile
    identification = "/ISk5MT174-0001"   # required without base
    address = "71234567"
    mode = "C"                           # A B C D E; default: from the baud character
    reaction_time_ms = 20                # default: 200, or 20 for a lower-case 3rd letter
    option_select_wait_ms = 1800         # tt
    bcc = "xor"                          # or "sum7"
    framed = true                        # false: no STX/ETX/BCC
    glued_end = false                    # '!' right after the last data line
    line_end = "crlf"                    # or "lf"
    nak_repeats = 3
    nak_window_ms = 1500
    push_interval_s = 10                 # mode D; 0 pushes once per connection
    request_starts = ["/?", "/#", "/2"]
    lists = { "/2" = ["1.8.0", "2.8.0"] }  # /2! answers only these data lines
    description = "..."
    lines = ["1.8.0(001234.120*kWh)", "0.9.1(131519)"]
    # or instead of lines:
    data_file = "capture.txt"            # one data line per line, relative to this file

Captured readout (any other suffix): the identification line ``/XXXZ...``,
then the data lines as the meter prints them, exactly as a logger recorded the
exchange. Skipped: junk or NULs before ``/``, an echo of the request
(``/?!``, ``/?12345!``), the acknowledgement (or its echo) and a meter's own
``ACK`` CR LF, STX, and everything from the ``!`` that ends the data on: ETX
and the old BCC, a trailer such as a DSMR CRC (``!6796``), a second telegram.
The identification is kept exactly (trailing blanks are part of it); a last
data line with ``!`` glued to it is accepted. A file with no data set is
refused with one line.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import MASK_7BIT
from obisgate.protocol.dataset import parse_data_block
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.readout import skip_acknowledgements
from obisgate.simulator.builtin import builtin_profiles, get_profile
from obisgate.simulator.profile import MeterProfile

__all__ = ["load_profile", "resolve_profile"]

_KEYS = frozenset(
    {
        "name",
        "base",
        "identification",
        "address",
        "mode",
        "reaction_time_ms",
        "option_select_wait_ms",
        "bcc",
        "framed",
        "glued_end",
        "line_end",
        "nak_repeats",
        "nak_window_ms",
        "push_interval_s",
        "request_starts",
        "lists",
        "description",
        "lines",
        "data_file",
    }
)
_LINE_ENDS = {"crlf": "\r\n", "lf": "\n"}


def resolve_profile(name_or_path: str) -> MeterProfile:
    """A built-in profile by name, else a profile file (see :func:`load_profile`).

    Raises:
        ConfigError: neither a built-in name nor a readable, valid file.
    """
    profiles = builtin_profiles()
    if name_or_path in profiles:
        return profiles[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"profile {name_or_path!r}: no such built-in profile ({', '.join(profiles)}) or file"
        )
    return load_profile(path)


def load_profile(path: str | Path) -> MeterProfile:
    """Load a ``.toml`` profile, or a captured readout (any other suffix).

    Raises:
        ConfigError: the file cannot be read or is invalid; the message names
            the file and the problem.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".toml":
            return _from_toml(path)
        return _from_capture(path.read_bytes(), path.stem)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _from_toml(path: Path) -> MeterProfile:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from None
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    fields: dict[str, Any] = {}
    base = _get(doc, "base", str)
    if "identification" in doc:
        fields.update(_identification_fields(_get(doc, "identification", str)))
    elif base is None:
        raise ConfigError("'identification' is required (or 'base' naming a built-in profile)")
    fields["name"] = _get(doc, "name", str) or path.stem
    _copy(doc, fields, "address", str)
    _copy(doc, fields, "description", str)
    _copy(doc, fields, "framed", bool)
    _copy(doc, fields, "glued_end", bool)
    _copy(doc, fields, "nak_repeats", int)
    if "mode" in doc:
        try:
            fields["mode"] = ProtocolMode(_get(doc, "mode", str).upper())
        except ValueError:
            raise ConfigError("'mode' must be one of A, B, C, D, E") from None
    if "bcc" in doc:
        try:
            fields["bcc_method"] = BccMethod(_get(doc, "bcc", str).lower())
        except ValueError:
            raise ConfigError("'bcc' must be 'xor' or 'sum7'") from None
    if "line_end" in doc:
        end = _get(doc, "line_end", str).lower()
        if end not in _LINE_ENDS:
            raise ConfigError("'line_end' must be 'crlf' or 'lf'")
        fields["line_end"] = _LINE_ENDS[end]
    for key, field, scale in (
        ("reaction_time_ms", "reaction_time_s", 1000.0),
        ("option_select_wait_ms", "option_select_wait_s", 1000.0),
        ("nak_window_ms", "nak_window_s", 1000.0),
    ):
        if key in doc:
            fields[field] = _number(doc, key) / scale
    if "push_interval_s" in doc:
        interval = _number(doc, "push_interval_s")
        fields["push_interval_s"] = interval if interval > 0 else None
    if "request_starts" in doc:
        starts = doc["request_starts"]
        if not isinstance(starts, list) or not all(isinstance(s, str) for s in starts):
            raise ConfigError("'request_starts' must be a list of strings such as \"/?\"")
        fields["request_starts"] = tuple(starts)
    if "lists" in doc:
        lists = doc["lists"]
        if not isinstance(lists, dict) or not all(
            isinstance(v, list) and all(isinstance(a, str) for a in v) for v in lists.values()
        ):
            raise ConfigError(
                "'lists' must be a table of request starts and address lists, "
                'e.g. { "/2" = ["1.8.0", "2.8.0"] }'
            )
        fields["lists"] = tuple((str(k), tuple(v)) for k, v in lists.items())
    if "lines" in doc and "data_file" in doc:
        raise ConfigError("give either 'lines' or 'data_file', not both")
    if "lines" in doc:
        lines = doc["lines"]
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ConfigError("'lines' must be a list of strings")
        fields["lines"] = tuple(lines)
    elif "data_file" in doc:
        data_path = path.parent / _get(doc, "data_file", str)
        try:
            text = data_path.read_text(encoding="latin-1")
        except OSError as exc:
            raise ConfigError(f"data_file {data_path}: {exc.strerror or exc}") from None
        fields["lines"] = _data_lines(text.splitlines())
    elif base is None:
        raise ConfigError("give the data as 'lines' or 'data_file'")
    if base is not None:
        return get_profile(base).replace(**fields)
    return MeterProfile(**fields)


def _from_capture(data: bytes, name: str) -> MeterProfile:
    """A profile serving exactly the data sets of a captured exchange.

    Raises:
        ConfigError: no identification, or no data set (one line; also for binary files).
    """
    buf = data.translate(MASK_7BIT)
    ident_line: bytes | None = None
    while (slash := buf.find(b"/")) >= 0:
        lf = buf.find(b"\n", slash)
        line = buf[slash : lf if lf >= 0 else len(buf)].rstrip(b"\r")
        buf = buf[lf + 1 :] if lf >= 0 else b""
        if line.endswith(b"!") or line.startswith(b"/?"):
            continue  # the request, or its echo
        ident_line = line
        break
    if ident_line is None:
        raise ConfigError("a captured readout must start with the identification line '/XXXZ...'")
    fields = _identification_fields(ident_line.decode("latin-1"))
    buf = buf[skip_acknowledgements(buf) :].lstrip(b"\r\n\x00\x7f")
    buf = buf.removeprefix(b"\x02")
    end = buf.find(b"!")
    block = buf if end < 0 else buf[:end]
    for stop in (b"\x03", b"\x04"):  # no "!": the frame ends the data
        if (cut := block.find(stop)) >= 0:
            block = block[:cut]
    text = block.decode("latin-1")
    if any(c < " " and c not in "\r\n\t" for c in text):
        raise ConfigError("not a readout capture: control bytes among the data lines")
    lines = _data_lines(text.splitlines())
    if not lines or not parse_data_block("\n".join(lines))[0]:
        raise ConfigError("no data set found after the identification")
    if "\n" in text and "\r" not in text:
        fields["line_end"] = "\n"
    fields["glued_end"] = end > 0 and buf[end - 1 : end] not in (b"\n", b"\r")
    return MeterProfile(name=name, lines=lines, description=f"captured readout {name}", **fields)


def _identification_fields(line: str) -> dict[str, Any]:
    if not line.startswith("/"):
        line = "/" + line
    if not line.isprintable():
        raise ConfigError("identification: not printable text")
    try:
        ident = Identification.parse(line.rstrip("\r\n"))
    except FramingError as exc:
        raise ConfigError(f"identification: {exc}") from None
    if not ident.baud_char:
        raise ConfigError("identification has no baud character")
    return {
        "manufacturer": ident.manufacturer,
        "baud_char": ident.baud_char,
        "enhanced": ident.enhanced,
        "identification": ident.identification,
    }


def _data_lines(raw: list[str]) -> tuple[str, ...]:
    lines = [line.rstrip("\r\n") for line in raw]
    lines = [line for line in lines if line.strip() and line.strip() != "!"]
    if lines and lines[-1].endswith("!"):
        lines[-1] = lines[-1][:-1]
    return tuple(lines)


def _get(doc: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"'{key}' must be a {kind.__name__}")
    return value


def _copy(doc: dict[str, Any], fields: dict[str, Any], key: str, kind: type[Any]) -> None:
    if key in doc:
        value = doc[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"'{key}' must be a {kind.__name__}")
        fields[key] = value


def _number(doc: dict[str, Any], key: str) -> float:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"'{key}' must be a number")
    return float(value)
