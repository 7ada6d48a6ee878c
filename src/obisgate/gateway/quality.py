"""Quality of a gateway value: valid, or any combination of invalid / not topical / overflow.

JSON representation (outputs, ``obisgate history --format json``): a list of
lower-case flag names, ``["valid"]`` when no flag is set, otherwise e.g.
``["invalid"]`` or ``["not_topical", "overflow"]`` in the order of the members
below. The SQLite history stores ``int(quality)`` (the flag bits).
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

    @property
    def is_valid(self) -> bool:
        """True when no flag is set."""
        return self is Quality.VALID

    def to_json(self) -> list[str]:
        """The JSON form: ``["valid"]`` or the names of the set flags, lower case."""
        if self.is_valid:
            return ["valid"]
        return [flag.name.lower() for flag in self if flag.name is not None]

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
