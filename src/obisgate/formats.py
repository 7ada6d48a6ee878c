"""Render readouts as JSON, CSV, a table for people, or the lines as sent."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from obisgate.protocol.client import ReadResult
from obisgate.protocol.dataset import DataSet
from obisgate.protocol.identification import Identification, ProtocolMode

__all__ = [
    "FORMATS",
    "Describe",
    "datasets_to_list",
    "identification_to_dict",
    "render",
    "result_to_dict",
]

FORMATS = ("table", "json", "csv", "raw")

Describe = Callable[[str, str | None, str | None], str | None]
"""(address, manufacturer, unit) -> a description of the register, or ``None``."""


def identification_to_dict(ident: Identification) -> dict[str, str]:
    """The identification as a JSON-ready dict."""
    return {
        "manufacturer": ident.manufacturer,
        "baud_char": ident.baud_char,
        "enhanced": ident.enhanced,
        "identification": ident.identification,
    }


def datasets_to_list(
    datasets: tuple[DataSet, ...] | list[DataSet],
) -> list[dict[str, Any]]:
    """Data sets as JSON-ready dicts (every value group with raw, value, unit)."""
    return [
        {
            "address": ds.address,
            "values": [{"raw": v.raw, "value": v.value, "unit": v.unit} for v in ds.values],
        }
        for ds in datasets
    ]


def result_to_dict(result: ReadResult) -> dict[str, Any]:
    """A readout as the one JSON object ``obisgate read --format json`` prints."""
    out: dict[str, Any] = {
        "identification": identification_to_dict(result.identification),
        "mode": result.mode.value,
        "baud": result.baud,
        "bcc": result.readout.bcc.value,
        "datasets": datasets_to_list(result.readout.datasets),
    }
    if result.readout.unparsed:
        out["unparsed"] = list(result.readout.unparsed)
    return out


def render(result: ReadResult, fmt: str, *, describe: Describe | None = None) -> str:
    """Render ``result`` in one of :data:`FORMATS` (text ends with a newline).

    ``describe`` adds a description column to the table (the CLI passes the OBIS
    catalogue's, for people at a terminal); the other formats never change.
    """
    if fmt == "json":
        return json.dumps(result_to_dict(result), ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(result.readout.datasets)
    if fmt == "raw":
        ident = result.identification.to_bytes().decode("latin-1")
        return ident + "".join(ds.to_text() + "\n" for ds in result.readout.datasets)
    return _table(result, describe=describe)


def _csv(datasets: tuple[DataSet, ...]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["address", "value_index", "value", "unit", "raw"])
    for ds in datasets:
        for i, v in enumerate(ds.values, start=1):
            writer.writerow([ds.address, i, v.value, "" if v.unit is None else v.unit, v.raw])
    return buf.getvalue()


def table_lines(
    datasets: tuple[DataSet, ...] | list[DataSet],
    *,
    describe: Describe | None = None,
    manufacturer: str | None = None,
) -> list[str]:
    """Aligned ``address  value  unit`` lines; extra value groups on their own lines.

    With ``describe``, a last column holds its description of each address
    (called with the address, ``manufacturer`` and the first value's unit).
    """
    descriptions = describe is not None
    width = max([len(ds.address) for ds in datasets] + [7])
    vwidth = max([len(v.value.strip()) for ds in datasets for v in ds.values] + [5])
    uwidth = max([len(v.unit or "") for ds in datasets for v in ds.values] + [4])
    head = f"{'address':<{width}}  {'value':>{vwidth}}  {'unit':<{uwidth}}"
    lines = [(head + "  description" if descriptions else head).rstrip()]
    for ds in datasets:
        address = ds.address
        text = ""
        if describe is not None and ds.values:
            text = describe(ds.address, manufacturer, ds.values[0].unit) or ""
        for v in ds.values:
            unit = "" if v.unit is None else v.unit
            line = f"{address:<{width}}  {v.value.strip():>{vwidth}}  {unit:<{uwidth}}  {text}"
            lines.append(line.rstrip())
            address = text = ""
    return lines


def _table(result: ReadResult, *, describe: Describe | None = None) -> str:
    ident = result.identification
    readout = result.readout
    if result.mode in (ProtocolMode.E, ProtocolMode.HDLC):
        meter = (
            "(direct HDLC: no identification)"
            if result.mode is ProtocolMode.HDLC
            else f"/{ident.manufacturer}{ident.baud_char}{ident.enhanced}{ident.identification}"
        )
        head = [
            f"meter     {meter}",
            f"mode      {result.mode.value} at {result.baud} Bd, DLMS/COSEM over HDLC, "
            f"{len(readout.datasets)} objects",
            "",
        ]
    else:
        head = [
            f"meter     /{ident.manufacturer}{ident.baud_char}{ident.enhanced}{ident.identification}",
            f"mode      {result.mode.value} at {result.baud} Bd, BCC {readout.bcc.value}, "
            f"{len(readout.datasets)} data sets",
            "",
        ]
    tail = [f"not parsed: {text!r}" for text in readout.unparsed]
    lines = table_lines(readout.datasets, describe=describe, manufacturer=ident.manufacturer)
    return "\n".join(head + lines + tail) + "\n"
