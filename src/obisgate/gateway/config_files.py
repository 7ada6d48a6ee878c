"""Reading gateway configuration files into raw rows, with the location of every value.

Three formats hold the same tables: the row tables ``devices`` and ``signals``,
and the single tables ``storage``, ``output`` and one section per output (the
tables a reader accepts are the keys of the ``allowed`` mapping it is given,
see :func:`~obisgate.gateway.config_build.table_fields`). A single table that
is absent keeps its defaults (an output section: the output is off); one that
is present, even empty, is used.

* **TOML** (the default for any other file name): ``[[devices]]`` and
  ``[[signals]]`` arrays of tables, single tables as ``[storage]``, ``[mqtt]`` ...
* **Excel** (``.xlsx``/``.xlsm``): sheets ``Devices`` and ``Signals``; row 1 holds
  the field names, the first empty row ends a sheet (later rows are ignored with
  a warning); further sheets whose names start with ``Signals`` (e.g.
  ``Signals-2``) are appended in workbook order. A single table is a sheet
  named like it (``MQTT``, ``Http``, ``Storage`` ...): the field names in row 1,
  the values in row 2, nothing below (an error per extra row); an empty sheet
  or one with only the names is the table with its defaults. Other sheets are
  ignored. Sheet names are matched case-insensitively, surrounding blanks
  aside. Formulas count with their cached value. Keep serial numbers with
  leading zeros as text cells.
* **CSV**: a pair of files, ``devices`` and ``signals``. Give either a directory
  holding ``devices.csv`` and ``signals.csv``, or one file of the pair: a
  ``.csv`` file whose name contains ``devices`` or ``signals`` (any case); its
  partner is the same name with the other word (``plant1_devices.csv`` <->
  ``plant1_signals.csv``). Both files are required. A single table is an
  optional file named the same way beside them (``mqtt.csv`` in the directory,
  ``plant1_mqtt.csv`` next to ``plant1_devices.csv``): a line of field names
  and one line of values (an error per extra line); an empty file or one with
  only the names is the table with its defaults. The header line holds the
  field names; the delimiter (``,``, ``;`` or tab) is taken from the header
  line; blank lines are skipped; the encoding is UTF-8 (a BOM is allowed).
  File names are matched case-insensitively.

Field names are matched leniently: case, surrounding blanks, and blanks or
``-`` instead of ``_`` do not matter (``Device Alias`` = ``device_alias``).
Unknown names are errors. An empty or blank value means "use the default".
"""

from __future__ import annotations

from pathlib import Path

from obisgate.gateway.config_rows import (
    Allowed,
    ConfigFileError,
    ConfigProblem,
    RawRow,
    RawTables,
    normalize_key,
)
from obisgate.gateway.config_tabular import read_csv_pair, read_excel
from obisgate.gateway.config_toml import read_toml

__all__ = [
    "ConfigFileError",
    "ConfigProblem",
    "RawRow",
    "RawTables",
    "normalize_key",
    "read_tables",
]


def read_tables(path: Path, allowed: Allowed) -> RawTables:
    """Read a configuration source; never raises for bad content.

    Args:
        path: a ``.toml`` (or any other name: TOML), ``.xlsx``/``.xlsm`` file, a
            ``.csv`` file of a pair, or a directory holding ``devices.csv`` and
            ``signals.csv`` (and optional single-table files such as ``mqtt.csv``).
        allowed: normalized field names allowed per table (every name of
            :data:`ROW_TABLES` and every single table: the core ones and the
            outputs' sections).

    Returns:
        The raw rows, with every reading problem in ``problems``.
    """
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".csv":
        return read_csv_pair(path, allowed)
    if suffix in (".xlsx", ".xlsm"):
        return read_excel(path, allowed)
    if suffix in (".xls", ".ods"):
        tables = RawTables(path, path.parent)
        tables.problems.append(
            ConfigProblem(str(path), f"{suffix} files are not supported; save as .xlsx")
        )
        return tables
    return read_toml(path, allowed)
