"""``obisgate init``: read a meter once and write a starter gateway configuration."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from obisgate.gateway.numbers import convert
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.dataset import DataSet
from obisgate.protocol.identification import ProtocolMode
from obisgate.session import read_meter
from obisgate.transport.base import LineSettings

__all__ = ["guess_number_type", "starter_config", "write_starter_config"]

_FLOAT = re.compile(r"[+-]?\d*\.\d+|[+-]?\d+\.\d*")
_INT = re.compile(r"[+-]?\d+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_TIME_ADDRESSES = ("0.9.1", "1-0:0.9.1", "0-0:0.9.1")
_DATE_ADDRESSES = ("0.9.2", "1-0:0.9.2", "0-0:0.9.2")


def guess_number_type(dataset: DataSet) -> str:
    """A sensible ``number_type`` for a data set's first value (the user can change it).

    Every guess is checked by converting the value the meter sent; a type that
    would not convert it falls back to STRING.
    """
    value = dataset.values[0]
    text = value.value.strip()
    base = dataset.address.split("*")[0].split("&")[0]
    if base in _TIME_ADDRESSES:
        candidate = "TIME"
    elif base in _DATE_ADDRESSES:
        candidate = "DATE"
    elif _FLOAT.fullmatch(text):
        candidate = "DOUBLE" if len(text.lstrip("+-0").replace(".", "")) > 7 else "FLOAT"
    elif _INT.fullmatch(text) and value.unit:
        candidate = "FLOAT"
    elif base in ("F.F", "0-0:F.F", "1-0:F.F") and _HEX.fullmatch(text or "-"):
        candidate = "HEX"
    else:
        return "STRING"
    return candidate if convert(value, candidate).quality.is_valid else "STRING"


def _alias(address: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", address).strip("_") or "value"
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}_{n}", n + 1
    taken.add(alias)
    return alias


def starter_config(
    url: str,
    alias: str,
    address: str,
    mode: ProtocolMode,
    datasets: tuple[DataSet, ...],
    *,
    baudrate: int = 300,
    timeout_s: float = 2.5,
) -> tuple[str, int]:
    """TOML text for one device and one signal per addressed data set, and the signal count."""
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
    device["type"] = "C" if mode is ProtocolMode.E else mode.value
    if baudrate != 300:
        device["baudrate"] = baudrate
    device["timeout_ms"] = round(timeout_s * 1000)
    taken: set[str] = set()
    signals = [
        {
            "device_alias": alias,
            "signal_alias": _alias(ds.address, taken),
            "tag_job_todo": ds.address,
            "number_type": guess_number_type(ds),
            "log": 0,
        }
        for ds in datasets
        if ds.address
    ]
    header = (
        "# Starter configuration written by `obisgate init` from one readout.\n"
        "# Check the number types, set log = 1 on signals whose history you want,\n"
        "# then run: obisgate run <this file>\n\n"
    )
    return header + tomli_w.dumps({"devices": [device], "signals": signals}), len(signals)


async def write_starter_config(
    url: str, alias: str, *, address: str, timeout_s: float, baudrate: int
) -> tuple[str, int]:
    """Read the meter at ``url`` once; return the starter TOML and its signal count.

    Raises:
        ObisgateError: the readout failed.
    """
    options = ReadoutOptions(address=address, response_timeout_s=timeout_s, initial_baud=baudrate)
    result = await read_meter(url, options, line=LineSettings(baudrate=baudrate))
    return starter_config(
        url,
        alias,
        address,
        result.mode,
        result.readout.datasets,
        baudrate=baudrate,
        timeout_s=timeout_s,
    )
