"""Quality of a gateway value: valid, or any combination of invalid / not topical / overflow,
and the mark ``backfilled`` on a value the meter recorded in its load profile.

JSON representation (outputs, ``obisgate history --format json``): a list of
lower-case flag names, ``["valid"]`` when no flag is set, otherwise e.g.
``["invalid"]``, ``["not_topical", "overflow"]`` or ``["backfilled"]`` in the
order of the members below. The SQLite history and the PostgreSQL readings
table store ``int(quality)`` (the flag bits).

``BACKFILLED`` says where a value comes from, not that anything is wrong with it:
:attr:`Quality.is_valid` ignores it. Backfilled values reach only the outputs that
keep or forward a history (``Output.takes_backfill``), never a live view.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Quality"]


class Quality(enum.Flag):
    """Quality flags of a value.

    ``Quality.VALID`` is the empty set of flags; test it with :attr:`is_valid`
    rather than with ``bool()`` (the empty flag set is falsy).
    """

    VALID = 0
    """Nothing wrong: the value was read in the last readout and converted."""
    INVALID = 1
    """The text could not be parsed as the signal's number type (value is ``None``)."""
    NOT_TOPICAL = 2
    """The value is not current: missing from the last readout, or the readout failed."""
    OVERFLOW = 4
    """The value parsed but does not fit the signal's number type (value is ``None``)."""
    BACKFILLED = 8
    """An interval of the meter's load profile, read after a gap and published with
    its own (past) time: a mark of origin, not a defect."""

    @property
    def is_valid(self) -> bool:
        """True when no defect (invalid, not topical, overflow) is flagged; a backfilled
        value without one is valid."""
        return not self & _DEFECTS

    def to_json(self) -> list[str]:
        """The JSON form: ``["valid"]`` or the names of the set flags, lower case."""
        if self is Quality.VALID:
            return ["valid"]
        return [flag.name.lower() for flag in self if flag.name is not None]

    @property
    def backfilled(self) -> bool:
        """True for a value read from the meter's load profile after a gap."""
        return Quality.BACKFILLED in self

    @classmethod
    def from_json(cls, names: Iterable[str]) -> Quality:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: a name is not ``valid`` or a flag name.
        """
        quality = cls.VALID
        for name in names:
            key = name.strip().upper()
            if key == "VALID":
                continue
            try:
                quality |= cls[key]
            except KeyError:
                allowed = ", ".join(m.name.lower() for m in cls if m.name is not None)
                raise ValueError(f"unknown quality {name!r}; allowed: valid, {allowed}") from None
        return quality


#: The flags that make a value not valid (``BACKFILLED`` is not one of them).
_DEFECTS = Quality.INVALID | Quality.NOT_TOPICAL | Quality.OVERFLOW
