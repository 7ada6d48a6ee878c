"""Data sets ``address(value*unit)(value*unit)...`` and data blocks.

Parsing is lossless: every value group keeps its raw text, addresses are kept
exactly as sent (text, never assumed numeric), and anything that is not a data
set is kept in ``unparsed`` rather than dropped.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["DataSet", "Value", "parse_data_block"]


class Value(NamedTuple):
    """One value group ``(value*unit)`` of a data set.

    Attributes:
        raw: the text between the brackets, exactly as sent.
        value: the value part, untrimmed (the first ``&`` sub-value's, if any).
        unit: the unit text; ``None`` without ``*``, ``""`` when ``*`` ends the group.
    """

    raw: str
    value: str
    unit: str | None

    @classmethod
    def from_raw(cls, raw: str) -> Value:
        """Split the text between the brackets into value and unit."""
        first = raw.partition("&")[0] if "&" in raw else raw
        value, star, unit = first.partition("*")
        return cls(raw, value, unit if star else None)

    @property
    def subvalues(self) -> tuple[Value, ...]:
        """The ``&``-separated sub-values (``9.4(088*C&082*C)``), each split again."""
        return tuple(Value.from_raw(part) for part in self.raw.split("&"))

    def to_text(self) -> str:
        """Encode as ``(raw)``."""
        return f"({self.raw})"


class DataSet(NamedTuple):
    """An address and its one or more value groups.

    Attributes:
        address: the address exactly as the meter sent it (may be ``""`` for
            value-only lines such as load-profile rows).
        values: the value groups in order.
    """

    address: str
    values: tuple[Value, ...]

    @property
    def value(self) -> Value:
        """The first value group."""
        return self.values[0]

    def to_text(self) -> str:
        """Encode as ``address(v1)(v2)...``."""
        return self.address + "".join(f"({v.raw})" for v in self.values)


# Groups: address, raw, value, unit. An address starts only where the previous
# bracket, line end or the text starts (the lookbehind): without that anchor
# every position of a long bracket-less run is tried again and junk parses in
# quadratic time. Inside the brackets the value/unit split of Value.from_raw is
# done by the pattern itself (value up to the first "*" or "&", unit after that
# "*" up to the first "&"); the possessive quantifiers keep it linear.
_GROUP = re.compile(
    r"(?<![^()\r\n])([^()\r\n]*+)"
    r"\((([^()&*]*+)(?:\*([^()&]*+))?[^()]*+)\)"
)
_BLANK = frozenset(" \r\n\t\x00")
_new = tuple.__new__  # builds the NamedTuples without their keyword-handling __new__


def parse_data_block(text: str) -> tuple[list[DataSet], list[str]]:
    """Split a data block into data sets.

    Data sets are found by their brackets, not by line ends, so several sets on
    one line, lines of any length and LF-only line ends all work. A value group
    directly following another (no address, no line break between) belongs to
    the same data set; a line of bare value groups becomes a set with address
    ``""``.

    Args:
        text: the data block (between STX and ``!``), bit 7 already cleared.

    Returns:
        The data sets in order, and the non-blank text fragments that are not
        part of any data set (empty when the block is well formed).
    """
    datasets: list[DataSet] = []
    unparsed: list[str] = []
    append = datasets.append
    address = ""
    values: list[Value] = []
    last_end = 0
    for match in _GROUP.finditer(text):
        start, end = match.span()
        addr, raw, value, unit = match.groups()
        if start == last_end and values and (not addr or addr.isspace()):
            values.append(_new(Value, (raw, value, unit)))
            last_end = end
            continue
        if start != last_end:
            gap = text[last_end:start]
            if gap != "\r\n" and not _BLANK.issuperset(gap):
                unparsed.append(gap.strip())
        if values:
            append(_new(DataSet, (address, tuple(values))))
        address = addr
        values = [_new(Value, (raw, value, unit))]
        last_end = end
    if values:
        append(_new(DataSet, (address, tuple(values))))
    tail = text[last_end:]
    if tail and not _BLANK.issuperset(tail):
        unparsed.append(tail.strip())
    return datasets, unparsed
