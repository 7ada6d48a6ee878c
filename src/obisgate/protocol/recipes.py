"""Meter recipes as the sans-IO core sees them: settings that change after the identification.

A :class:`Recipe` names a meter family by its identification: the three
manufacturer letters (a regular expression matched against all three) and
the model (a regular expression matched at the start of the identification
text after the baud character and ``\\W`` escapes). Its ``adjust`` holds the
reader settings to use once the meter has identified itself, by the field
names of :class:`~obisgate.protocol.client.ReadoutOptions` (:data:`READOUT_FIELDS`)
and :class:`~obisgate.protocol.programming_client.ProgrammingOptions`
(:data:`PROGRAMMING_FIELDS`).

:class:`RecipeRules` tells a client which recipes to try and which settings
were given explicitly (``keep``): a recipe never changes those. Every recipe
that matches applies, in order, a later one winning over an earlier one for
the same setting; ``forced`` applies last, whatever the identification says.

The recipe table itself (data, with sources) and its loading live outside
the core, in :mod:`obisgate.recipes`; this module does no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from obisgate.errors import ConfigError
from obisgate.protocol.identification import Identification

__all__ = ["PROGRAMMING_FIELDS", "READOUT_FIELDS", "Recipe", "RecipeRules"]

#: ReadoutOptions fields a recipe may change after the identification.
READOUT_FIELDS = frozenset(
    {
        "mode",
        "max_baud",
        "force_baud",
        "switch_baud",
        "reaction_time_s",
        "baud_change_delay_s",
        "response_timeout_s",
        "inter_byte_timeout_s",
        "bcc_method",
        "verify_bcc",
        "repeat_requests",
        "strip_echo",
    }
)
#: ProgrammingOptions fields a recipe may change after the sign-on's identification.
PROGRAMMING_FIELDS = frozenset({"read_command"})


@functools.lru_cache(maxsize=512)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


@dataclass(frozen=True, slots=True)
class Recipe:
    """One meter family and the settings it needs once it has identified itself.

    Attributes:
        name: unique, short (``lgz-zmd120``).
        manufacturer: regular expression, full match on the three letters.
        model: regular expression matched at the start of the identification
            text (``""`` matches every model).
        adjust: ``(field, value)`` pairs, fields of :data:`READOUT_FIELDS` or
            :data:`PROGRAMMING_FIELDS`, values as those options hold them.
        title: one line for people.
        source: where the quirk is documented.

    Raises:
        ConfigError: (on construction) a pattern that does not compile, or a
            field a recipe cannot change after the identification.
    """

    name: str
    manufacturer: str
    model: str = ""
    adjust: tuple[tuple[str, object], ...] = ()
    title: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for what, text in (("manufacturer", self.manufacturer), ("model", self.model)):
            try:
                _pattern(text)
            except re.error as exc:
                raise ConfigError(f"recipe {self.name}: {what} pattern {text!r}: {exc}") from None
        unknown = sorted(
            key for key, _ in self.adjust if key not in READOUT_FIELDS | PROGRAMMING_FIELDS
        )
        if unknown:
            raise ConfigError(
                f"recipe {self.name}: {', '.join(unknown)} cannot change after the identification"
            )

    def matches(self, ident: Identification) -> bool:
        """Whether the identification names this family."""
        return bool(
            _pattern(self.manufacturer).fullmatch(ident.manufacturer)
            and _pattern(self.model).match(ident.identification)
        )


#: Identifications whose matching recipes a rule set remembers (then it starts again).
_MATCHED_KEPT = 4096


@dataclass(frozen=True, slots=True)
class RecipeRules:
    """Which recipes a client applies after the identification, and what they must not touch.

    Attributes:
        recipes: tried in order; every one that matches applies.
        forced: applied last whatever the identification says (``None``: none).
        keep: option fields given explicitly; no recipe changes them.
    """

    recipes: tuple[Recipe, ...] = ()
    forced: Recipe | None = None
    keep: frozenset[str] = field(default_factory=frozenset)
    # The answers so far: a gateway asks again for every readout of the same meters.
    _matched: dict[Identification, tuple[Recipe, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def matching(self, ident: Identification) -> tuple[Recipe, ...]:
        """The recipes that apply to ``ident``, in the order they apply."""
        found = self._matched.get(ident)
        if found is None:
            found = tuple(r for r in self.recipes if r.matches(ident) and r is not self.forced)
            if self.forced is not None:
                found = (*found, self.forced)
            if len(self._matched) >= _MATCHED_KEPT:
                self._matched.clear()
            self._matched[ident] = found
        return found

    def adjustments(self, ident: Identification) -> tuple[tuple[Recipe, ...], dict[str, object]]:
        """The recipes that apply and the settings they change (later ones win), minus ``keep``."""
        recipes = self.matching(ident)
        changes: dict[str, object] = {}
        for recipe in recipes:
            changes.update((k, v) for k, v in recipe.adjust if k not in self.keep)
        return recipes, changes


def split_adjustments(
    changes: Mapping[str, object],
) -> tuple[dict[str, object], dict[str, object]]:
    """``changes`` split into readout option fields and programming option fields."""
    readout = {k: v for k, v in changes.items() if k in READOUT_FIELDS}
    programming = {k: v for k, v in changes.items() if k in PROGRAMMING_FIELDS}
    return readout, programming
