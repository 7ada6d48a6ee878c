"""``obisgate init``: read a meter once and write a starter gateway configuration."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from obisgate.cli.common import fail
from obisgate.cli.signal_names import signal_alias_for, unique_alias
from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.reading import ObjectSpec, data_access_error
from obisgate.dlms_session import read_dlms
from obisgate.errors import ConfigError
from obisgate.gateway.config import load_config
from obisgate.gateway.numbers import convert
from obisgate.obis import describe
from obisgate.protocol.client import ReadoutOptions, ReadResult
from obisgate.protocol.dataset import DataSet
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.recipes import RecipeRules
from obisgate.recipes import RecipeBook
from obisgate.session import read_meter
from obisgate.transport.base import LineSettings

__all__ = [
    "PUSH_SILENCE_MS",
    "check_starter_config",
    "device_entry",
    "device_fields",
    "guess_number_type",
    "meter_model_for",
    "starter_config",
    "uses_decimal_comma",
    "write_starter_config",
]

_FLOAT = re.compile(r"[+-]?\d*\.\d+|[+-]?\d+\.\d*")
_COMMA_FLOAT = re.compile(r"[+-]?\d*,\d+|[+-]?\d+,\d*")
_INT = re.compile(r"[+-]?\d+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_TIME_ADDRESSES = ("0.9.1", "1-0:0.9.1", "0-0:0.9.1")
_DATE_ADDRESSES = ("0.9.2", "1-0:0.9.2", "0-0:0.9.2")


def guess_number_type(dataset: DataSet) -> str:
    """A sensible ``number_type`` for a data set's first value (the user can change it).

    Every guess is checked by converting the value the meter sent; a type that
    would not convert it falls back to STRING. A number written with a decimal
    comma (``000007,4``) is a FLOAT (or DOUBLE) too: the device then needs
    ``decimal_comma = 1`` (:func:`uses_decimal_comma`).
    """
    value = dataset.values[0]
    text = value.value.strip()
    base = dataset.address.split("*")[0].split("&")[0]
    comma = uses_decimal_comma(dataset)
    if base in _TIME_ADDRESSES:
        candidate = "TIME"
    elif base in _DATE_ADDRESSES:
        candidate = "DATE"
    elif _FLOAT.fullmatch(text) or comma:
        digits = len(text.lstrip("+-0").replace(".", "").replace(",", ""))
        candidate = "DOUBLE" if digits > 7 else "FLOAT"
    elif _INT.fullmatch(text) and value.unit:
        candidate = "FLOAT"
    elif base in ("F.F", "0-0:F.F", "1-0:F.F") and _HEX.fullmatch(text or "-"):
        candidate = "HEX"
    else:
        return "STRING"
    converted = convert(value, candidate, decimal_comma=comma)
    return candidate if converted.quality.is_valid else "STRING"


def uses_decimal_comma(dataset: DataSet) -> bool:
    """Whether the data set's first value is a number with a decimal comma (``000007,4``),
    which converts only on a device with ``decimal_comma = 1``."""
    base = dataset.address.split("*")[0].split("&")[0]
    if base in _TIME_ADDRESSES or base in _DATE_ADDRESSES or not dataset.values:
        return False
    return _COMMA_FLOAT.fullmatch(dataset.values[0].value.strip()) is not None


_NUMERIC_TYPES = frozenset({"FLOAT", "DOUBLE"})

#: The least ``timeout_ms`` written for a push meter: a silence this long means it
#: stopped pushing (meters push every 1 to 10 s or so).
PUSH_SILENCE_MS = 30_000
_PARITY = {"E": "EVEN", "N": "NONE", "O": "ODD"}


def device_fields(given: dict[str, Any]) -> dict[str, Any]:
    """Device fields for the reading options the user gave on the command line.

    ``given`` holds only the options set explicitly (``line_options`` and
    ``mode_options`` parameter names); defaults are left to the configuration's
    own defaults, which are the same.
    """
    fields: dict[str, Any] = {}
    simple = {
        "baudrate": "baudrate",
        "request_start": "request_start",
        "wakeup_nuls": "wakeup",
        "t2_ms": "t2",
        "baud_change_delay_ms": "baud_change_delay_ms",
        "bcc_method": "bcc_method",
        "repeat_requests": "repeat_requests",
    }
    for option, field in simple.items():
        if given.get(option) is not None:
            fields[field] = given[option]
    if "databits" in given:
        fields["databits"] = int(given["databits"])
    if "parity" in given:
        fields["parity"] = _PARITY[given["parity"][0].upper()]
    if "stopbits" in given:
        stopbits = float(given["stopbits"])
        fields["stopbits"] = int(stopbits) if stopbits.is_integer() else stopbits
    if "flowcontrol" in given:
        fields["flowcontrol"] = given["flowcontrol"].upper()
    for option in ("max_baud", "force_baud"):
        if given.get(option):
            fields[option] = int(given[option])
    if given.get("mode", "auto").upper() in ("E", "HDLC"):
        for name in ("dlms_client", "dlms_logical", "dlms_physical"):
            fields[name] = given.get(name, {"dlms_client": 16, "dlms_logical": 1}.get(name, 17))
        if given.get("password_env"):
            fields["password_env"] = given["password_env"]
        if given.get("password_file"):
            fields["password_file"] = str(given["password_file"])
    switches = {
        "software_parity": ("software_parity", True),
        "no_verify_bcc": ("verify_bcc", False),
        "no_echo_strip": ("strip_echo", False),
        "no_switch": ("switch_baud", False),
    }
    for option, (field, when_set) in switches.items():
        if given.get(option):
            fields[field] = when_set
    return fields


def device_entry(
    url: str,
    alias: str,
    address: str,
    mode: ProtocolMode,
    *,
    timeout_s: float = 2.5,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``[[devices]]`` table of a meter read at ``url`` (``fields``: further settings)."""
    device: dict[str, Any] = {"device_alias": alias, "name": alias}
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and parts.scheme in ("tcp", "socket"):
        device["ip"] = parts.hostname or ""
        device["port"] = parts.port or 0
    elif parts is not None:
        device["url"] = url
    else:
        device["device"] = url
    device["serialnumber"] = address or "0"
    dlms = fields is not None and any(k.startswith("dlms_") for k in fields)
    device["type"] = "C" if mode is ProtocolMode.E and not dlms else mode.value
    device["timeout_ms"] = round(timeout_s * 1000)
    device.update(fields or {})
    return device


def starter_config(
    url: str,
    alias: str,
    address: str,
    mode: ProtocolMode,
    datasets: tuple[DataSet, ...],
    *,
    timeout_s: float = 2.5,
    fields: dict[str, Any] | None = None,
    manufacturer: str | None = None,
) -> tuple[str, int]:
    """TOML text for one device and one signal per addressed data set, and the signal count.

    Signals get readable aliases and, for the codes the OBIS catalogue knows, its
    description (:func:`signal_alias_for`; ``manufacturer``, the identification's
    three letters, selects a manufacturer's own codes), ``tag_job_todo`` exactly
    as the meter sent the address, and ``log = 1`` when the value is a number
    (energy counters, power, voltages...).

    A push meter (mode D) is written as ``type = "D"``: the gateway keeps its port
    open and takes each telegram as a readout; it is sent no request, so no
    ``serialnumber``, and its ``timeout_ms`` (the silence after which its values
    turn not topical) is at least :data:`PUSH_SILENCE_MS`, since one readout does
    not tell how often it pushes. When a number carries a decimal comma
    (``000007,4``) the device gets ``decimal_comma = 1`` and the signal FLOAT.
    """
    device = device_entry(url, alias, address, mode, timeout_s=timeout_s, fields=fields)
    if mode is ProtocolMode.D:
        del device["serialnumber"]
        device["timeout_ms"] = max(device["timeout_ms"], PUSH_SILENCE_MS)
    taken: set[str] = set()
    signals = []
    for ds in datasets:
        if not ds.address or data_access_error(ds.value) is not None:
            continue
        number_type = guess_number_type(ds)
        if number_type in _NUMERIC_TYPES and uses_decimal_comma(ds):
            device["decimal_comma"] = 1
        unit = ds.values[0].unit if ds.values else None
        name = signal_alias_for(ds.address, manufacturer=manufacturer, unit=unit)
        signal: dict[str, Any] = {
            "device_alias": alias,
            "signal_alias": unique_alias(name, taken),
            "tag_job_todo": ds.address,
            "number_type": number_type,
            "log": 1 if number_type in _NUMERIC_TYPES else 0,
        }
        info = describe(ds.address, manufacturer=manufacturer, unit=unit)
        if info is not None:
            signal["description"] = info.description
        signals.append(signal)
    header = (
        "# Starter configuration written by `obisgate init` from one readout.\n"
        "# Check the number types and aliases; signals with log = 1 keep a history.\n"
        "# Then run: obisgate run <this file>\n\n"
    )
    return header + tomli_w.dumps({"devices": [device], "signals": signals}), len(signals)


def meter_model_for(
    ident: Identification, book: RecipeBook, forced: str | None = None
) -> str | None:
    """The ``meter_model`` to write for a meter: the forced recipe, else the last recipe
    matching ``ident`` that has settings applying only when forced (e.g. a wake-up or a
    longer poll deadline); ``None`` when the automatic recipes cover it."""
    if forced is not None:
        return None if forced.strip().lower() == "none" else forced
    needing = [e for e in book.matching(ident) if e.forced_only]
    return needing[-1].name if needing else None


async def write_starter_config(
    url: str,
    alias: str,
    options: ReadoutOptions,
    line: LineSettings,
    *,
    fields: dict[str, Any],
    trace: str | None = None,
    dlms: DlmsOptions | None = None,
    objects: list[ObjectSpec] | None = None,
    rules: RecipeRules | None = None,
    book: RecipeBook | None = None,
    meter_model: str | None = None,
) -> tuple[str, int]:
    """Read the meter at ``url`` once; return the starter TOML and its signal count.

    A mode E or direct HDLC meter (``options.mode``) is read with ``dlms``: its
    object list and every value object in it (or ``objects``), one signal each;
    objects the meter refuses get none.

    A D0 meter is read with the recipe ``rules``; with ``book``, its device names a
    recipe in ``meter_model`` (see :func:`meter_model_for`; ``meter_model`` is the
    one forced on the command line).

    Raises:
        ObisgateError: the readout failed (a push meter: no telegram in time).
    """
    result: ReadResult
    if options.mode in (ProtocolMode.E, ProtocolMode.HDLC):
        if dlms is None:
            raise ConfigError("mode E / HDLC needs the DLMS options")
        result = await read_dlms(
            url,
            dlms,
            opening=options if options.mode is ProtocolMode.E else None,
            objects=objects,
            line=line,
            trace=trace,
        )
    else:
        result = await read_meter(url, options, rules=rules, line=line, trace=trace)
        if book is not None:
            model = meter_model_for(result.identification, book, meter_model)
            if model is not None:
                fields = {**fields, "meter_model": model}
    return starter_config(
        url,
        alias,
        options.address,
        result.mode,
        result.readout.datasets,
        timeout_s=options.response_timeout_s,
        fields=fields,
        manufacturer=result.identification.manufacturer,
    )


def check_starter_config(text: str, out: Path) -> None:
    """Exit with every problem when the configuration written for a meter would not load."""
    with tempfile.TemporaryDirectory(prefix="obisgate-init-") as tmp:
        candidate = Path(tmp) / out.name
        candidate.write_text(text, encoding="utf-8")
        try:
            load_config(candidate)
        except ConfigError as exc:
            fail(f"the configuration for this meter would not load: {exc}", 1)
