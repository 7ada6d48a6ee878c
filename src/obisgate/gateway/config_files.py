"""Reading gateway configuration files into raw rows, with the location of every value.

Three formats hold the same tables: the row tables ``devices`` and ``signals``,
and the single tables ``storage``, ``output`` and the output sections
(``mqtt``, ``http``, ``modbus``, ``iec104``, ``opcua``, ``postgres``; see
:data:`SINGLE_TABLES`). A single table that is absent keeps its defaults (an
output section: the output is off); one that is present, even empty, is used.

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

import csv
import dataclasses
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from types import MappingProxyType
from typing import cast

import tomli

from obisgate.errors import ConfigError

__all__ = [
    "ConfigFileError",
    "ConfigProblem",
    "RawRow",
    "RawTables",
    "normalize_key",
    "read_tables",
]

#: The tables of many rows, and those of one row (a TOML table, a sheet or a CSV file each).
ROW_TABLES = ("devices", "signals")
SINGLE_TABLES = ("storage", "output", "mqtt", "http", "modbus", "iec104", "opcua", "postgres")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One error or warning in a configuration file.

    Attributes:
        file: the file as given (or found, for the CSV partner).
        message: what is wrong and what is allowed.
        field: the field concerned, normalized (``baudrate``), if any.
        table: ``devices``, ``signals`` or a single table (``storage``, ``mqtt`` ...), if any.
        place: where inside the file, in words: ``devices[2]`` (TOML array
            index, from 0), ``sheet Devices row 4`` (Excel), ``[storage]``;
            ``None`` when the line says it all (CSV) or for whole-file problems.
        line: line number in a text file (TOML, CSV), from 1, if known.
    """

    file: str
    message: str
    field: str | None = None
    table: str | None = None
    place: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.place:
            parts.append(self.place)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigFileError(ConfigError):
    """A configuration file has one or more errors; all of them are listed.

    Attributes:
        problems: every error found, in file order per table.
        warnings: the warnings found so far (not raised on their own).

    ``str()`` is one line per problem.
    """

    def __init__(
        self,
        problems: list[ConfigProblem] | tuple[ConfigProblem, ...],
        warnings: list[ConfigProblem] | tuple[ConfigProblem, ...] = (),
    ) -> None:
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


_NO_LINES: Mapping[str, int] = MappingProxyType({})


@dataclass(slots=True)
class RawRow:
    """One device/signal row (or a single table) before validation.

    Attributes:
        table: ``devices``, ``signals`` or a single table (``storage``, ``mqtt`` ...).
        file: file name for messages.
        place: location in words (see :class:`ConfigProblem`).
        line: line of the row (TOML header / CSV record), if known.
        fields: normalized field name -> value; blank values already dropped.
        field_lines: line of each field, where known (TOML).
    """

    table: str
    file: str
    place: str | None
    line: int | None
    fields: dict[str, object] = field(default_factory=dict)
    field_lines: Mapping[str, int] = field(default_factory=lambda: _NO_LINES)
    #: ``locate(table, index)`` gives ``(line, field_lines)`` on first use (TOML: the
    #: line scan runs only when a problem or warning needs a location; most loads
    #: have none); ``index`` is the row's position in its array, -1 for a table.
    locate: Callable[[str, int], tuple[int | None, dict[str, int]]] | None = None
    index: int = -1

    def problem(self, message: str, field_name: str | None = None) -> ConfigProblem:
        """A problem located at this row (at the field's own line if known)."""
        self._located()
        line = self.field_lines.get(field_name, self.line) if field_name else self.line
        return ConfigProblem(self.file, message, field_name, self.table, self.place, line)

    def describe(self) -> str:
        """The location in words, for messages naming another row."""
        self._located()
        where = self.place or self.table
        return f"{where} (line {self.line})" if self.line else where

    def _located(self) -> None:
        if self.locate is not None:
            self.line, self.field_lines = self.locate(self.table, self.index)
            self.locate = None


@dataclass(slots=True)
class RawTables:
    """Everything read from one configuration source.

    Attributes:
        source: the path given.
        base_dir: directory that relative paths in the configuration refer to.
        devices, signals: the rows in order.
        single: the single tables present (``storage``, ``output``, output sections).
        problems: errors found while reading (syntax, unknown fields, ...).
        warnings: warnings found while reading.
    """

    source: Path
    base_dir: Path
    devices: list[RawRow] = field(default_factory=list)
    signals: list[RawRow] = field(default_factory=list)
    single: dict[str, RawRow] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)

    def rows(self, table: str) -> list[RawRow]:
        """The rows of ``devices`` or ``signals``."""
        return self.devices if table == "devices" else self.signals


@functools.lru_cache(maxsize=4096)
def normalize_key(name: str) -> str:
    """Field name as compared: lower case, blanks and ``-`` become one ``_``.

    Cached: a configuration repeats the same few dozen names for every row.
    """
    return "_".join(name.replace("-", " ").lower().split())


_is_text = str.__instancecheck__


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _unknown_message(name: str, allowed: frozenset[str]) -> str:
    close = get_close_matches(normalize_key(name), sorted(allowed), n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; allowed: {', '.join(sorted(allowed))}"


def read_tables(path: Path, allowed: Mapping[str, frozenset[str]]) -> RawTables:
    """Read a configuration source; never raises for bad content.

    Args:
        path: a ``.toml`` (or any other name: TOML), ``.xlsx``/``.xlsm`` file, a
            ``.csv`` file of a pair, or a directory holding ``devices.csv`` and
            ``signals.csv`` (and optional single-table files such as ``mqtt.csv``).
        allowed: normalized field names allowed per table (every name of
            :data:`ROW_TABLES` and :data:`SINGLE_TABLES`).

    Returns:
        The raw rows, with every reading problem in ``problems``.
    """
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".csv":
        return _read_csv_pair(path, allowed)
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, allowed)
    if suffix in (".xls", ".ods"):
        tables = RawTables(path, path.parent)
        tables.problems.append(
            ConfigProblem(str(path), f"{suffix} files are not supported; save as .xlsx")
        )
        return tables
    return _read_toml(path, allowed)


# -- TOML ---------------------------------------------------------------------

_ARRAY_HEADER = re.compile(r"\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"\s*\[\s*([^\]\[]+?)\s*\]")
_KEY_LINE = re.compile(r"\s*(?:\"([^\"]+)\"|'([^']+)'|([A-Za-z0-9_-]+))\s*=")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(slots=True)
class _TomlLines:
    """Lines of table headers and keys, found by a light scan of the text."""

    headers: dict[tuple[str, int], int] = field(default_factory=dict)
    keys: dict[tuple[str, int], dict[str, list[int]]] = field(default_factory=dict)
    top_keys: dict[str, list[int]] = field(default_factory=dict)

    def first_lines(self, table: tuple[str, int]) -> dict[str, int]:
        """Normalized key -> line of its first occurrence in ``table``."""
        return {k: v[0] for k, v in self.keys.get(table, {}).items()}

    def row_lines(self, table: tuple[str, int]) -> tuple[int | None, dict[str, int]]:
        """(header line, first line of each key) of ``table``."""
        return self.headers.get(table), self.first_lines(table)


class _LazyTomlLines:
    """Scans the text for lines on first use only, then keeps the result."""

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._lines: _TomlLines | None = None

    @property
    def lines(self) -> _TomlLines:
        if self._lines is None:
            assert self._text is not None
            self._lines = _scan_toml_lines(self._text)
            self._text = None
        return self._lines

    def row_lines(self, table: str, index: int) -> tuple[int | None, dict[str, int]]:
        return self.lines.row_lines((table, index))

    def key_lines(self, table: tuple[str, int], key: str) -> list[int]:
        return self.lines.keys.get(table, {}).get(key, [])


def _scan_toml_lines(text: str) -> _TomlLines:
    found = _TomlLines()
    counters: dict[str, int] = {}
    current: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        first = line.lstrip()[:1]
        if first in ("", "#"):
            continue
        if first != "[":
            key = _KEY_LINE.match(line)
            if key:
                name = normalize_key(next(g for g in key.groups() if g is not None))
                target = found.top_keys if current is None else found.keys.setdefault(current, {})
                target.setdefault(name, []).append(number)
            continue
        array = _ARRAY_HEADER.match(line)
        if array:
            name = normalize_key(array.group(1).strip("\"'"))
            index = counters.get(name, 0)
            counters[name] = index + 1
            current = (name, index)
            found.headers[current] = number
            continue
        table = _TABLE_HEADER.match(line)
        if table:
            current = (normalize_key(table.group(1).strip("\"'")), -1)
            found.headers[current] = number
    return found


def _read_toml(path: Path, allowed: Mapping[str, frozenset[str]]) -> RawTables:
    tables = RawTables(path, path.parent)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        tables.problems.append(ConfigProblem(file, "not UTF-8 text"))
        return tables
    except OSError as exc:
        tables.problems.append(ConfigProblem(file, f"cannot read: {exc.strerror}"))
        return tables
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))
        message = _TOML_AT.sub("", str(exc)).strip()
        line = int(at.group(1)) if at else None
        if at:
            message += f" (column {at.group(2)})"
        tables.problems.append(ConfigProblem(file, f"TOML syntax error: {message}", line=line))
        return tables
    lazy = _LazyTomlLines(text)
    locate = lazy.row_lines
    for raw_name, value in data.items():
        name = normalize_key(raw_name)

        def top_line(name: str = name) -> int | None:
            found = lazy.lines
            return (
                found.top_keys.get(name, [None])[0]
                or found.headers.get((name, -1))
                or found.headers.get((name, 0))
            )

        if name in ROW_TABLES:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                tables.problems.append(
                    ConfigProblem(
                        file,
                        f"{raw_name} must be an array of tables: [[{name}]]",
                        table=name,
                        line=top_line() or lazy.lines.headers.get((name, 0)),
                    )
                )
                continue
            rows = tables.rows(name)
            for index, item in enumerate(value):
                key = (name, index)
                row = RawRow(
                    name, file, f"{name}[{index}]", None, locate=lazy.row_lines, index=index
                )
                _fill_row(row, item, allowed[name], tables, functools.partial(lazy.key_lines, key))
                rows.append(row)
        elif name in SINGLE_TABLES:
            if not isinstance(value, dict):
                tables.problems.append(
                    ConfigProblem(file, f"{raw_name} must be a table: [{name}]", line=top_line())
                )
                continue
            key = (name, -1)
            row = RawRow(name, file, f"[{name}]", None, locate=locate)
            _fill_row(row, value, allowed[name], tables, functools.partial(lazy.key_lines, key))
            tables.single[name] = row
        else:
            known = (*ROW_TABLES, *SINGLE_TABLES)
            tables.problems.append(
                ConfigProblem(
                    file,
                    f"unknown top-level entry {raw_name!r}; allowed: "
                    + ", ".join(
                        [*(f"[[{t}]]" for t in ROW_TABLES), *(f"[{t}]" for t in SINGLE_TABLES)]
                    ),
                    field=raw_name if raw_name not in known else None,
                    line=top_line(),
                )
            )
    return tables


def _fill_row(
    row: RawRow,
    item: Mapping[str, object],
    allowed: frozenset[str],
    tables: RawTables,
    key_lines: Callable[[str], list[int]],
) -> None:
    if allowed.issuperset(item):
        # Every key is already a normalized field name (so no two can clash): the usual case.
        values = item.values()
        # No blank value (the usual case), checked without a Python call per value.
        if (
            isinstance(item, dict)
            and None not in values
            and all(map(str.strip, cast("Iterator[str]", filter(_is_text, values))))
        ):
            row.fields = item  # tomli's own dict: no copy
        else:
            row.fields = {k: v for k, v in item.items() if not _is_blank(v)}
        return
    seen: dict[str, str] = {}
    for raw_key, value in item.items():
        key = normalize_key(raw_key)
        if key not in allowed:
            tables.problems.append(row.problem(_unknown_message(raw_key, allowed), key))
            continue
        if key in seen:
            problem = row.problem(f"given twice (as {seen[key]!r} and {raw_key!r})", key)
            later = key_lines(key)
            if len(later) > 1:
                problem = dataclasses.replace(problem, line=later[1])
            tables.problems.append(problem)
            continue
        seen[key] = raw_key
        if not _is_blank(value):
            row.fields[key] = value


# -- tabular formats (Excel, CSV) -------------------------------------------


@dataclass(slots=True)
class _Header:
    """Column index -> normalized field name, after checking the header row.

    Attributes:
        columns: the columns of known fields.
        titled: every column with a non-blank header (known or not).
    """

    columns: dict[int, str]
    titled: set[int]


def _check_header(cells: list[object], allowed: frozenset[str], make: _ProblemMaker) -> _Header:
    columns: dict[int, str] = {}
    titled: set[int] = set()
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if _is_blank(cell):
            continue
        titled.add(index)
        text = str(cell).strip()
        key = normalize_key(text)
        if key not in allowed:
            make(index, _unknown_message(text, allowed), key)
            continue
        if key in seen:
            make(index, f"column given twice (columns {seen[key] + 1} and {index + 1})", key)
            continue
        seen[key] = index
        columns[index] = key
    return _Header(columns, titled)


class _ProblemMaker:
    """Makes problems for one header row (column-addressed)."""

    def __init__(
        self, tables: RawTables, file: str, table: str, place: str | None, line: int | None
    ) -> None:
        self.tables = tables
        self.file = file
        self.table = table
        self.place = place
        self.line = line

    def __call__(self, column: int, message: str, field_name: str | None) -> None:
        place = f"{self.place} column {_column_name(column)}" if self.place else None
        where = place if place else f"column {column + 1}"
        self.tables.problems.append(
            ConfigProblem(self.file, message, field_name, self.table, where, self.line)
        )


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _record_to_row(
    row: RawRow, cells: list[object], header: _Header, tables: RawTables, reported: set[int]
) -> None:
    for index, cell in enumerate(cells):
        if _is_blank(cell):
            continue
        key = header.columns.get(index)
        if key is not None:
            row.fields[key] = cell.strip() if isinstance(cell, str) else cell
        elif index not in header.titled and index not in reported:
            reported.add(index)
            tables.problems.append(
                row.problem(f"value in column {index + 1}, which has no field name")
            )


# -- output sections and other single tables (Excel, CSV) ----------------------


def _read_section(
    records: list[tuple[int, list[object]]],
    table: str,
    file: str,
    allowed: frozenset[str],
    tables: RawTables,
    *,
    sheet: str | None,
) -> None:
    """One single table from the non-blank records of a sheet (``sheet``) or CSV file.

    ``records`` are ``(row or line number, cells)``: the first holds the field
    names, the next one the values. No record at all, or the field names
    alone, is the table with every default (and present: an output section
    turns its output on). In a sheet the names are in row 1 and the values in
    row 2. Every further record is an error located at it.
    """
    kind, unit = ("sheet", "row") if sheet is not None else ("file", "line")

    def where(number: int) -> tuple[str | None, int | None]:
        """(place, line) of a record, as :class:`ConfigProblem` wants them."""
        return (f"sheet {sheet} row {number}", None) if sheet is not None else (None, number)

    row = RawRow(table, file, f"sheet {sheet}" if sheet is not None else None, None)
    tables.single[table] = row
    if not records:
        return
    (header_at, header_cells), *values = records
    if sheet is not None and header_at != 1:
        tables.problems.append(
            ConfigProblem(
                file,
                f"row 1 of the {table} sheet must hold the field names, row 2 the values",
                table=table,
                place=f"sheet {sheet}",
            )
        )
        return
    header = _check_header(
        header_cells, allowed, _ProblemMaker(tables, file, table, *where(header_at))
    )
    if sheet is not None and values and values[0][0] != 2:
        place, _ = where(values[0][0])
        tables.problems.append(
            ConfigProblem(
                file,
                f"the values of the {table} sheet go in row 2, under the field names",
                table=table,
                place=place,
            )
        )
        return
    if not values:
        return
    (values_at, cells), *more = values
    for number, _ in more:
        place, line = where(number)
        tables.problems.append(
            ConfigProblem(
                file,
                f"the {table} {kind} holds one {unit} of values ({unit} {values_at}); "
                f"{unit} {number} is one too many",
                table=table,
                place=place,
                line=line,
            )
        )
    row.place, row.line = where(values_at)
    _record_to_row(row, cells, header, tables, set())


# -- Excel --------------------------------------------------------------------


def _read_excel(path: Path, allowed: Mapping[str, frozenset[str]]) -> RawTables:
    import openpyxl  # noqa: PLC0415 - only needed for Excel files

    tables = RawTables(path, path.parent)
    file = str(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        tables.problems.append(ConfigProblem(file, f"cannot read: {exc.strerror or exc}"))
        return tables
    except Exception as exc:  # openpyxl raises many types for a damaged file
        tables.problems.append(
            ConfigProblem(file, f"not a readable Excel workbook ({type(exc).__name__})")
        )
        return tables
    try:
        names = [str(n) for n in workbook.sheetnames]
        by_key = {n.strip().lower(): n for n in names}
        devices = by_key.get("devices")
        signals = [n for n in names if n.strip().lower() == "signals"]
        signals += [
            n
            for n in names
            if n.strip().lower().startswith("signals") and n.strip().lower() != "signals"
        ]
        if devices is None:
            tables.problems.append(
                ConfigProblem(file, f"no sheet 'Devices' (sheets: {', '.join(names)})")
            )
        else:
            _read_sheet(
                workbook[devices],
                name=devices,
                table="devices",
                file=file,
                allowed=allowed,
                tables=tables,
            )
        if not signals:
            tables.problems.append(
                ConfigProblem(file, f"no sheet 'Signals' (sheets: {', '.join(names)})")
            )
        for name in signals:
            _read_sheet(
                workbook[name],
                name=name,
                table="signals",
                file=file,
                allowed=allowed,
                tables=tables,
            )
        section_sheets: dict[str, str] = {}
        for name in names:
            table = name.strip().lower()
            if table not in SINGLE_TABLES:
                continue
            if table in section_sheets:
                tables.problems.append(
                    ConfigProblem(
                        file,
                        f"two sheets for [{table}]: {section_sheets[table]!r} and {name!r}",
                        table=table,
                    )
                )
                continue
            section_sheets[table] = name
            records = [
                (number, list(cells))
                for number, cells in enumerate(workbook[name].iter_rows(values_only=True), 1)
                if not all(_is_blank(c) for c in cells)
            ]
            _read_section(records, table, file, allowed[table], tables, sheet=name)
    finally:
        workbook.close()
    return tables


def _read_sheet(
    sheet: object,
    *,
    name: str,
    table: str,
    file: str,
    allowed: Mapping[str, frozenset[str]],
    tables: RawTables,
) -> None:
    rows: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True)  # type: ignore[attr-defined]
    header_cells = next(rows, None)
    if header_cells is None or all(_is_blank(c) for c in header_cells):
        tables.problems.append(
            ConfigProblem(
                file,
                "sheet is empty: row 1 must hold the field names",
                table=table,
                place=f"sheet {name}",
            )
        )
        return
    maker = _ProblemMaker(tables, file, table, f"sheet {name} row 1", None)
    header = _check_header(list(header_cells), allowed[table], maker)
    reported: set[int] = set()
    ended_at: int | None = None
    for number, cells in enumerate(rows, start=2):
        blank = all(_is_blank(c) for c in cells)
        if ended_at is not None:
            if not blank:
                tables.warnings.append(
                    ConfigProblem(
                        file,
                        f"rows after the empty row {ended_at} are ignored "
                        f"(row {number} has values)",
                        table=table,
                        place=f"sheet {name}",
                    )
                )
                return
            continue
        if blank:
            ended_at = number
            continue
        row = RawRow(table, file, f"sheet {name} row {number}", None)
        _record_to_row(row, list(cells), header, tables, reported)
        tables.rows(table).append(row)


# -- CSV ----------------------------------------------------------------------


def _table_word(name: str) -> tuple[str, int] | None:
    """(table, position) of the first ``devices`` / ``signals`` in a file name, any case."""
    lower = name.lower()
    for word in ROW_TABLES:
        at = lower.find(word)
        if at >= 0:
            return word, at
    return None


def _sibling_name(name: str, word: str, at: int, other: str) -> str:
    """``name`` with ``word`` (found at ``at``) replaced by ``other``, in the same case."""
    original = name[at : at + len(word)]
    if original.isupper():
        replacement = other.upper()
    elif original[0].isupper():
        replacement = other.capitalize()
    else:
        replacement = other
    return name[:at] + replacement + name[at + len(word) :]


def _find_file(directory: Path, name: str) -> Path | None:
    exact = directory / name
    if exact.is_file():
        return exact
    try:
        entries = list(directory.iterdir())
    except OSError:
        return None
    return next((p for p in entries if p.name.lower() == name.lower() and p.is_file()), None)


def _read_csv_pair(path: Path, allowed: Mapping[str, frozenset[str]]) -> RawTables:
    if path.is_dir():
        tables = RawTables(path, path)
        pair = {t: _find_file(path, f"{t}.csv") for t in ROW_TABLES}
        for table, file in pair.items():
            if file is None:
                tables.problems.append(
                    ConfigProblem(str(path), f"no {table}.csv in this directory")
                )
        sections = {t: _find_file(path, f"{t}.csv") for t in SINGLE_TABLES}
    else:
        tables = RawTables(path, path.parent)
        found = _table_word(path.name)
        if found is None:
            tables.problems.append(
                ConfigProblem(
                    str(path),
                    "a CSV configuration is a pair of files named *devices*.csv and "
                    "*signals*.csv (or a directory holding devices.csv and signals.csv)",
                )
            )
            return tables
        table, at = found
        other_table = "signals" if table == "devices" else "devices"
        other_name = _sibling_name(path.name, table, at, other_table)
        other = _find_file(path.parent, other_name)
        if other is None:
            tables.problems.append(
                ConfigProblem(str(path), f"the {other_table} file {other_name} is missing")
            )
        pair = {table: path, other_table: other}
        sections = {
            t: _find_file(path.parent, _sibling_name(path.name, table, at, t))
            for t in SINGLE_TABLES
        }
    for table in ROW_TABLES:
        file = pair.get(table)
        if file is not None:
            _read_csv_file(file, table, allowed[table], tables)
    for table, file in sections.items():
        if file is not None:
            _read_csv_section(file, table, allowed[table], tables)
    return tables


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_records(path: Path, tables: RawTables) -> list[tuple[int, list[object]]] | None:
    """The non-blank records of a CSV file as ``(first line, cells)``.

    ``None`` when the file cannot be read at all; after a syntax error, the
    records before it. Both are recorded in ``tables.problems``.
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        tables.problems.append(
            ConfigProblem(file, "not UTF-8 text (save as 'CSV UTF-8')", line=line)
        )
        return None
    except OSError as exc:
        tables.problems.append(ConfigProblem(file, f"cannot read: {exc.strerror}"))
        return None
    lines = text.splitlines(keepends=True)
    first = next((ln for ln in lines if ln.strip()), "")
    reader = csv.reader(lines, delimiter=_sniff_delimiter(first))
    records: list[tuple[int, list[object]]] = []
    previous_end = 0
    try:
        for cells in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if any(c.strip() for c in cells):
                records.append((start, list(cells)))
    except csv.Error as exc:
        tables.problems.append(
            ConfigProblem(file, f"CSV syntax error: {exc}", line=reader.line_num)
        )
    return records


def _read_csv_file(path: Path, table: str, allowed: frozenset[str], tables: RawTables) -> None:
    records = _csv_records(path, tables)
    if records is None:
        return
    file = str(path)
    if not records:
        tables.problems.append(
            ConfigProblem(file, "empty file: the first line must hold the field names")
        )
        return
    (header_at, header_cells), *values = records
    header = _check_header(
        header_cells, allowed, _ProblemMaker(tables, file, table, None, header_at)
    )
    reported: set[int] = set()
    for start, cells in values:
        row = RawRow(table, file, None, start)
        _record_to_row(row, cells, header, tables, reported)
        tables.rows(table).append(row)


def _read_csv_section(path: Path, table: str, allowed: frozenset[str], tables: RawTables) -> None:
    records = _csv_records(path, tables)
    if records is not None:
        _read_section(records, table, str(path), allowed, tables, sheet=None)
