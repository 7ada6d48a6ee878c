"""The tabular readers: Excel workbooks and CSV pairs, one row per record.

Both hold the row tables as a header of field names over one record per row
(:func:`read_excel`: sheets ``Devices`` and ``Signals``, and an optional ``Groups``;
:func:`read_csv_pair`: ``devices.csv`` and ``signals.csv``, and an optional
``groups.csv``) and every single table as a header over
one record (a sheet or a CSV file named after the table). A problem of a header
names its column; a problem of a record names its sheet row or CSV line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from obisgate.gateway.config_rows import (
    REQUIRED_ROW_TABLES,
    ROW_TABLES,
    Allowed,
    ConfigProblem,
    RawRow,
    RawTables,
    is_blank,
    normalize_key,
    unknown_message,
)

__all__ = ["read_csv_pair", "read_excel"]


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
        if is_blank(cell):
            continue
        titled.add(index)
        text = str(cell).strip()
        key = normalize_key(text)
        if key not in allowed:
            make(index, unknown_message(text, allowed), key)
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
        if is_blank(cell):
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


def read_excel(path: Path, allowed: Allowed) -> RawTables:
    """The rows of an Excel workbook (``.xlsx``/``.xlsm``); never raises for bad content.

    Sheets ``Devices`` and ``Signals`` (then ``Signals-2`` ... in workbook order), an
    optional ``Groups`` (one throttle group per row), and a sheet per single table of ``allowed`` named like it; names match in any
    case, surrounding blanks aside; other sheets are ignored.
    """
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
        for table, sheets in _row_sheets(names).items():
            if not sheets and table in REQUIRED_ROW_TABLES:
                listed = ", ".join(names)
                tables.problems.append(
                    ConfigProblem(file, f"no sheet '{table.capitalize()}' (sheets: {listed})")
                )
            for name in sheets:
                _read_sheet(
                    workbook[name],
                    name=name,
                    table=table,
                    file=file,
                    allowed=allowed,
                    tables=tables,
                )
        for table, name in _single_sheets(names, allowed, tables).items():
            records = [
                (number, list(cells))
                for number, cells in enumerate(workbook[name].iter_rows(values_only=True), 1)
                if not all(is_blank(c) for c in cells)
            ]
            _read_section(records, table, file, allowed[table], tables, sheet=name)
    finally:
        workbook.close()
    return tables


def _row_sheets(names: list[str]) -> dict[str, list[str]]:
    """The sheets of each row table, in reading order: ``Devices``; ``Signals``, then the
    other sheets whose names start with ``Signals``, in workbook order."""
    keys = [(name, name.strip().lower()) for name in names]
    devices = next((name for name, key in keys if key == "devices"), None)
    signals = [name for name, key in keys if key == "signals"]
    signals += [name for name, key in keys if key.startswith("signals") and key != "signals"]
    groups = next((name for name, key in keys if key == "groups"), None)
    return {
        "devices": [] if devices is None else [devices],
        "signals": signals,
        "groups": [] if groups is None else [groups],
    }


def _single_sheets(names: list[str], allowed: Allowed, tables: RawTables) -> dict[str, str]:
    """Single table -> its sheet; a second sheet for one table is a problem."""
    found: dict[str, str] = {}
    for name in names:
        table = name.strip().lower()
        if table not in allowed or table in ROW_TABLES:
            continue
        if table in found:
            tables.problems.append(
                ConfigProblem(
                    str(tables.source),
                    f"two sheets for [{table}]: {found[table]!r} and {name!r}",
                    table=table,
                )
            )
            continue
        found[table] = name
    return found


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
    if header_cells is None or all(is_blank(c) for c in header_cells):
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
        blank = all(is_blank(c) for c in cells)
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
    for word in REQUIRED_ROW_TABLES:
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


def read_csv_pair(path: Path, allowed: Allowed) -> RawTables:
    """The rows of a CSV pair; never raises for bad content.

    Args:
        path: a directory holding ``devices.csv`` and ``signals.csv``, or one
            ``.csv`` file of a ``*devices*`` / ``*signals*`` pair (its partner is
            the same name with the other word). A single table of ``allowed`` is an
            optional file named the same way (``mqtt.csv``, ``plant1_mqtt.csv``).
    """
    if path.is_dir():
        tables = RawTables(path, path)
        files = _directory_files(path, allowed, tables)
    else:
        tables = RawTables(path, path.parent)
        files = _pair_files(path, allowed, tables)
    for table, file in files.items():
        if file is None:
            continue
        if table in ROW_TABLES:
            _read_csv_file(file, table, allowed[table], tables)
        else:
            _read_csv_section(file, table, allowed[table], tables)
    return tables


def _directory_files(folder: Path, allowed: Allowed, tables: RawTables) -> dict[str, Path | None]:
    """Table -> its file in ``folder`` (``devices.csv`` ...); a missing row table is a problem."""
    files = {table: _find_file(folder, f"{table}.csv") for table in allowed}
    for table in REQUIRED_ROW_TABLES:
        if files[table] is None:
            tables.problems.append(ConfigProblem(str(folder), f"no {table}.csv in this directory"))
    return files


def _pair_files(path: Path, allowed: Allowed, tables: RawTables) -> dict[str, Path | None]:
    """Table -> its file beside ``path``, one file of a pair; a name without ``devices``
    or ``signals``, or a missing partner, is a problem."""
    found = _table_word(path.name)
    if found is None:
        tables.problems.append(
            ConfigProblem(
                str(path),
                "a CSV configuration is a pair of files named *devices*.csv and "
                "*signals*.csv (or a directory holding devices.csv and signals.csv)",
            )
        )
        return {}
    table, at = found
    files = {
        other: path
        if other == table
        else _find_file(path.parent, _sibling_name(path.name, table, at, other))
        for other in allowed
    }
    partner = "signals" if table == "devices" else "devices"
    if files[partner] is None:
        missing = _sibling_name(path.name, table, at, partner)
        tables.problems.append(ConfigProblem(str(path), f"the {partner} file {missing} is missing"))
    return files


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
