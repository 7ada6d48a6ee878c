"""The TOML reader: ``[[devices]]`` and ``[[signals]]`` arrays of tables, ``[storage]``, ``[mqtt]`` ...

:func:`read_toml` parses with tomli and keeps its dicts as the rows' fields (no
copy when every key is already a normalized field name and no value is blank,
the usual case). Lines are found by a light scan of the text, run only when a
problem or warning needs one (most loads have none).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import tomli

from obisgate.gateway.config_rows import (
    ROW_TABLES,
    Allowed,
    ConfigProblem,
    RawRow,
    RawTables,
    is_blank,
    normalize_key,
    single_tables,
    unknown_message,
)

__all__ = ["read_toml"]

_is_text = str.__instancecheck__

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
    """Scans the text for lines on first use only, then keeps the result.

    The text is not kept (at 100 000 meters it is 50 MB held through the whole load):
    the file is read again on first use, and scanned only if it is still the text that
    was parsed (else no line is known).
    """

    def __init__(self, path: Path, text: str) -> None:
        self._path: Path | None = path
        self._digest = _digest(text)
        self._lines: _TomlLines | None = None

    @property
    def lines(self) -> _TomlLines:
        if self._lines is None:
            assert self._path is not None
            try:
                text = self._path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            same = _digest(text) == self._digest
            self._lines = _scan_toml_lines(text) if same else _TomlLines()
            self._path = None
        return self._lines

    def row_lines(self, table: str, index: int) -> tuple[int | None, dict[str, int]]:
        return self.lines.row_lines((table, index))

    def key_lines(self, table: tuple[str, int], key: str) -> list[int]:
        return self.lines.keys.get(table, {}).get(key, [])


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


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


def read_toml(path: Path, allowed: Allowed) -> RawTables:
    """The rows of a TOML file; never raises for bad content.

    Returns:
        The rows of every table of ``allowed`` the file holds, with every problem
        (unreadable file, syntax error with its line and column, a table of the
        wrong kind, unknown entries and fields, keys given twice) in ``problems``.
    """
    tables = RawTables(path, path.parent)
    parsed = _parse(path, tables)
    if parsed is not None:
        text, data = parsed
        reader = _TomlReader(tables, allowed, _LazyTomlLines(path, text))
        del text, parsed
        for raw_name, value in data.items():
            reader.take(raw_name, value)
    return tables


def _parse(path: Path, tables: RawTables) -> tuple[str, dict[str, object]] | None:
    """The text and the parsed document, or ``None`` after recording why not."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        tables.problems.append(ConfigProblem(file, "not UTF-8 text"))
        return None
    except OSError as exc:
        tables.problems.append(ConfigProblem(file, f"cannot read: {exc.strerror}"))
        return None
    try:
        return text, tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))
        message = _TOML_AT.sub("", str(exc)).strip()
        line = int(at.group(1)) if at else None
        if at:
            message += f" (column {at.group(2)})"
        tables.problems.append(ConfigProblem(file, f"TOML syntax error: {message}", line=line))
        return None


class _TomlReader:
    """Takes the top-level entries of one parsed file into its tables."""

    def __init__(self, tables: RawTables, allowed: Allowed, lines: _LazyTomlLines) -> None:
        self.tables = tables
        self.file = str(tables.source)
        self.allowed = allowed
        self.lines = lines

    def take(self, raw_name: str, value: object) -> None:
        """One top-level entry: a row table, a single table, or an unknown one."""
        name = normalize_key(raw_name)
        if name in ROW_TABLES:
            self._row_table(raw_name, name, value)
        elif name in self.allowed:
            self._single_table(raw_name, name, value)
        else:
            self._unknown(raw_name, name)

    def _top_line(self, name: str) -> int | None:
        found = self.lines.lines
        return (
            found.top_keys.get(name, [None])[0]
            or found.headers.get((name, -1))
            or found.headers.get((name, 0))
        )

    def _row_table(self, raw_name: str, name: str, value: object) -> None:
        if name == "groups" and isinstance(value, dict):
            self._named_rows(raw_name, name, value)
            return
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.tables.problems.append(
                ConfigProblem(
                    self.file,
                    f"{raw_name} must be an array of tables: [[{name}]]",
                    table=name,
                    line=self._top_line(name),
                )
            )
            return
        rows = self.tables.rows(name)
        locate = self.lines.row_lines  # one bound method for every row
        for index, item in enumerate(value):
            # Its place (``name[index]``) is named when it is first located.
            row = RawRow(name, self.file, None, None, locate=locate, index=index)
            key_lines = functools.partial(self.lines.key_lines, (name, index))
            _fill_row(row, item, self.allowed[name], self.tables, key_lines)
            rows.append(row)

    def _named_rows(self, raw_name: str, name: str, value: dict[str, object]) -> None:
        """``[groups.NAME]`` tables: one row each, its ``name`` the table's name."""
        rows = self.tables.rows(name)
        for key, item in value.items():
            table = f"{name}.{key}"
            where = normalize_key(table)
            if not isinstance(item, dict):
                self.tables.problems.append(
                    ConfigProblem(
                        self.file,
                        f"{raw_name}.{key} must be a table: [{table}] with max_sessions = N",
                        table=name,
                        line=self._top_line(name),
                    )
                )
                continue
            row = RawRow(
                name,
                self.file,
                f"[{table}]",
                None,
                locate=functools.partial(_named_row_lines, self.lines, where),
            )
            key_lines = functools.partial(self.lines.key_lines, (where, -1))
            given = {k: v for k, v in item.items() if normalize_key(k) != "name"}
            _fill_row(row, given, self.allowed[name], self.tables, key_lines)
            if "name" in {normalize_key(k) for k in item}:
                self.tables.problems.append(
                    row.problem("not a field here: the table's name is the group's name", "name")
                )
            row.fields = {"name": key, **row.fields}
            rows.append(row)

    def _single_table(self, raw_name: str, name: str, value: object) -> None:
        if not isinstance(value, dict):
            self.tables.problems.append(
                ConfigProblem(
                    self.file, f"{raw_name} must be a table: [{name}]", line=self._top_line(name)
                )
            )
            return
        row = RawRow(name, self.file, f"[{name}]", None, locate=self.lines.row_lines)
        key_lines = functools.partial(self.lines.key_lines, (name, -1))
        _fill_row(row, value, self.allowed[name], self.tables, key_lines)
        self.tables.single[name] = row

    def _unknown(self, raw_name: str, name: str) -> None:
        singles = single_tables(self.allowed)
        entries = [
            *(f"[[{t}]]" for t in ROW_TABLES if t != "groups"),
            "[groups.NAME]",
            *(f"[{t}]" for t in singles),
        ]
        self.tables.problems.append(
            ConfigProblem(
                self.file,
                f"unknown top-level entry {raw_name!r}; allowed: " + ", ".join(entries),
                field=raw_name if raw_name not in (*ROW_TABLES, *singles) else None,
                line=self._top_line(name),
            )
        )


def _named_row_lines(
    lines: _LazyTomlLines, where: str, _table: str, _index: int
) -> tuple[int | None, dict[str, int]]:
    """The lines of a ``[groups.NAME]`` table (its header names it, not an index)."""
    return lines.row_lines(where, -1)


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
            row.fields = {k: v for k, v in item.items() if not is_blank(v)}
        return
    seen: dict[str, str] = {}
    for raw_key, value in item.items():
        key = normalize_key(raw_key)
        if key not in allowed:
            tables.problems.append(row.problem(unknown_message(raw_key, allowed), key))
            continue
        if key in seen:
            problem = row.problem(f"given twice (as {seen[key]!r} and {raw_key!r})", key)
            later = key_lines(key)
            if len(later) > 1:
                problem = dataclasses.replace(problem, line=later[1])
            tables.problems.append(problem)
            continue
        seen[key] = raw_key
        if not is_blank(value):
            row.fields[key] = value
