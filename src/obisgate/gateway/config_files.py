"""Reading a configuration source into raw rows: the reader of its format.

:func:`read_tables` picks the reader by the path: a directory or ``.csv`` file
(:func:`~obisgate.gateway.config_tabular.read_csv_pair`), ``.xlsx``/``.xlsm``
(:func:`~obisgate.gateway.config_tabular.read_excel`), anything else TOML
(:func:`~obisgate.gateway.config_toml.read_toml`). Each returns
:class:`~obisgate.gateway.config_rows.RawTables`: the rows of every table it was
allowed, located, with every reading problem. The formats themselves are
described in ``docs/configuration.md``.
"""

from __future__ import annotations

from pathlib import Path

from obisgate.gateway.config_rows import Allowed, ConfigProblem, RawTables
from obisgate.gateway.config_tabular import read_csv_pair, read_excel
from obisgate.gateway.config_toml import read_toml

__all__ = ["read_tables"]


def read_tables(path: Path, allowed: Allowed) -> RawTables:
    """Read a configuration source; never raises for bad content.

    Args:
        path: a ``.toml`` (or any other name: TOML), ``.xlsx``/``.xlsm`` file, a
            ``.csv`` file of a pair, or a directory holding ``devices.csv`` and
            ``signals.csv`` (and optional single-table files such as ``mqtt.csv``).
        allowed: normalized field names allowed per table (every name of
            ``devices``, ``signals`` and every single table: the core ones and the
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
