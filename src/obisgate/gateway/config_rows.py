"""Raw rows of a configuration, located: the shared ground of every file format.

Each reader (:mod:`.config_toml`, :mod:`.config_tabular`) turns a file into
:class:`RawTables`: for every table its :class:`RawRow` objects, each holding
the normalized field names and the values as the file gave them (blank ones
dropped), and where the row is (file, line or sheet row, each field's own line
where known). A :class:`ConfigProblem` made from a row (:meth:`RawRow.problem`)
names that place, so every error of the later validation points into the file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from types import MappingProxyType

from obisgate.errors import ConfigError

__all__ = [
    "REQUIRED_ROW_TABLES",
    "ROW_TABLES",
    "Allowed",
    "ConfigFileError",
    "ConfigProblem",
    "RawRow",
    "RawTables",
    "is_blank",
    "normalize_key",
    "single_tables",
    "unknown_message",
]

#: Table -> the normalized field names it allows (its keys are every table a reader
#: accepts: see :func:`~obisgate.gateway.config_build.table_fields`).
Allowed = Mapping[str, frozenset[str]]

#: The tables of many rows; every other table has one row (a TOML table, a sheet or a CSV file).
ROW_TABLES = ("devices", "signals", "groups")
#: The row tables every configuration has (``groups`` is optional).
REQUIRED_ROW_TABLES = ("devices", "signals")


def single_tables(allowed: Allowed) -> tuple[str, ...]:
    """The tables of one row among ``allowed``, in its order."""
    return tuple(table for table in allowed if table not in ROW_TABLES)


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
    #: have none); ``index`` is the row's position in its array, -1 for a table. A
    #: row of an array located so and without a ``place`` gets ``table[index]`` then.
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
            if self.place is None and self.index >= 0:
                self.place = f"{self.table}[{self.index}]"


@dataclass(slots=True)
class RawTables:
    """Everything read from one configuration source.

    Attributes:
        source: the path given.
        base_dir: directory that relative paths in the configuration refer to.
        devices, signals: the rows in order.
        groups: the throttle groups' rows (``[groups.NAME]``, sheet ``Groups``, ``groups.csv``).
        single: the single tables present (``storage``, ``output``, output sections).
        problems: errors found while reading (syntax, unknown fields, ...).
        warnings: warnings found while reading.
    """

    source: Path
    base_dir: Path
    devices: list[RawRow] = field(default_factory=list)
    signals: list[RawRow] = field(default_factory=list)
    groups: list[RawRow] = field(default_factory=list)
    single: dict[str, RawRow] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)

    def rows(self, table: str) -> list[RawRow]:
        """The rows of ``devices``, ``signals`` or ``groups``."""
        if table == "devices":
            return self.devices
        return self.groups if table == "groups" else self.signals


@functools.lru_cache(maxsize=4096)
def normalize_key(name: str) -> str:
    """Field name as compared: lower case, blanks and ``-`` become one ``_``.

    Cached: a configuration repeats the same few dozen names for every row.
    """
    return "_".join(name.replace("-", " ").lower().split())


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def unknown_message(name: str, allowed: frozenset[str]) -> str:
    close = get_close_matches(normalize_key(name), sorted(allowed), n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; allowed: {', '.join(sorted(allowed))}"
