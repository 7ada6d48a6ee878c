"""The recipe table: packaged recipes plus the user's own file, checked, by name.

A recipe file is TOML with ``[[recipe]]`` tables (the packaged one is
``recipes.toml`` beside this module; its header explains the fields)::

    [[recipe]]
    name = "my-meter"            # letters, digits, - and _
    manufacturer = "ABC"         # regular expression, the three letters
    model = "XY100"              # regular expression, start of the identification text
    title = "what it needs, in one line"
    source = "where that is documented"
    settings = { baud_change_delay_ms = 400, switch_baud = false }

Settings use the ``[[devices]]`` field names (:data:`SETTINGS`). Those the
reader can change once the meter has identified itself become the core's
:class:`~obisgate.protocol.recipes.Recipe` (``adjust``) and apply
automatically; the others apply when a recipe is forced (``meter_model``).

The user's file (``--recipes FILE``, or the ``OBISGATE_RECIPES`` environment
variable) extends the table: its recipes come after the packaged ones (so they
win for the same setting), and a recipe with a packaged recipe's name replaces
it.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import BAUD_TO_MODE_C_CHAR
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.recipes import Recipe, RecipeRules

__all__ = [
    "AFTER_IDENTIFICATION",
    "ENVIRONMENT_VARIABLE",
    "SETTINGS",
    "RecipeBook",
    "RecipeEntry",
    "builtin_recipes",
    "core_fields",
    "load_recipes",
]

#: Where the user's own recipes file is named when ``--recipes`` is not given.
ENVIRONMENT_VARIABLE = "OBISGATE_RECIPES"
#: obisgate's own recipes, beside this module (a plain file: no importlib machinery to
#: load later, when a process may have given up the rights to reach the interpreter).
_PACKAGED = Path(__file__).with_name("recipes.toml")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_RATES = tuple(BAUD_TO_MODE_C_CHAR)


def _int_range(low: int, high: int, unit: str = "") -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"a whole number {low}-{high}{unit}")
        return value

    return check


def _rate(value: object) -> int:
    if isinstance(value, bool) or value not in _RATES:
        raise ValueError("one of " + ", ".join(map(str, _RATES)))
    return int(value)


def _switch(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")  # noqa: TRY004 - reported as a value problem
    return value


def _choice(*options: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = str(value).strip()
        for option in options:
            if text.upper() == option.upper():
                return option
        raise ValueError("one of " + ", ".join(options))

    return check


def _request_start(value: object) -> str:
    text = str(value)
    if not text.startswith("/") or any(c in text[1:] for c in "/!\r\n") or not text.isprintable():
        raise ValueError("'/' and printable characters other than '/' and '!', e.g. /? or /#")
    return text


def _lists(value: object) -> object:
    """A device's ``list_requests`` as a recipe gives it: text (``"/2: 1.8.0 2.8.0"``) or a
    table of request starts and address lists; the device's own check validates it again
    when the recipe is applied."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(a, str) for a in v)
        for k, v in value.items()
    ):
        return value
    raise ValueError('text such as "/2: 1.8.0 2.8.0", or { "/2" = ["1.8.0", "2.8.0"] }')


#: Recipe settings: ``[[devices]]`` field name -> check (returns the value as stored).
SETTINGS: dict[str, Callable[[object], object]] = {
    "type": _choice("A", "B", "C", "D"),
    "switch_baud": _switch,
    "max_baud": _rate,
    "force_baud": _rate,
    "t2": _int_range(20, 1500, " ms"),
    "baud_change_delay_ms": _int_range(0, 10_000, " ms"),
    "timeout_ms": _int_range(10, 600_000, " ms"),
    "inter_byte_timeout_ms": _int_range(10, 600_000, " ms"),
    "bcc_method": _choice("xor", "sum7"),
    "verify_bcc": _switch,
    "repeat_requests": _int_range(0, 10),
    "strip_echo": _switch,
    "read_command": _choice("R1", "R2", "R3", "R4", "R5", "R6"),
    "wakeup": _int_range(0, 10_000, " NULs"),
    "wakeup_delay_ms": _int_range(0, 10_000, " ms"),
    "request_start": _request_start,
    "baudrate": _rate,
    "databits": _int_range(7, 8),
    "parity": _choice("NONE", "EVEN", "ODD"),
    "software_parity": _switch,
    "total_timeout_ms": _int_range(100, 86_400_000, " ms"),
    "decimal_comma": _switch,
    "list_requests": _lists,
    "register_reads": _switch,
}

#: Device field -> (core option field, conversion) of the settings that act after
#: the identification (readout options, and ``read_command`` of programming mode).
AFTER_IDENTIFICATION: dict[str, tuple[str, Callable[[Any], object]]] = {
    "type": ("mode", ProtocolMode),
    "switch_baud": ("switch_baud", bool),
    "max_baud": ("max_baud", int),
    "force_baud": ("force_baud", int),
    "t2": ("reaction_time_s", lambda ms: ms / 1000),
    "baud_change_delay_ms": ("baud_change_delay_s", lambda ms: ms / 1000),
    "timeout_ms": ("response_timeout_s", lambda ms: ms / 1000),
    "inter_byte_timeout_ms": ("inter_byte_timeout_s", lambda ms: ms / 1000),
    "bcc_method": ("bcc_method", BccMethod),
    "verify_bcc": ("verify_bcc", bool),
    "repeat_requests": ("repeat_requests", int),
    "strip_echo": ("strip_echo", bool),
    "read_command": ("read_command", str),
}


def core_fields(device_fields: Iterable[str]) -> frozenset[str]:
    """The core option fields set by these ``[[devices]]`` fields (for ``RecipeRules.keep``)."""
    return frozenset(AFTER_IDENTIFICATION[f][0] for f in device_fields if f in AFTER_IDENTIFICATION)


def _automatic(name: str, value: object) -> bool:
    return name in AFTER_IDENTIFICATION and not (name == "type" and value == "D")


@dataclass(frozen=True, slots=True)
class RecipeEntry:
    """One recipe of the table.

    Attributes:
        name, manufacturer, model, title, source: as in the file.
        settings: ``[[devices]]`` field -> value.
        origin: ``"obisgate"`` for a packaged recipe, else the file it came from.
        core: what the reader applies after the identification.
    """

    name: str
    manufacturer: str
    model: str
    title: str
    source: str
    settings: Mapping[str, object]
    origin: str
    core: Recipe = field(compare=False)

    @property
    def automatic(self) -> dict[str, object]:
        """The settings applied automatically once the meter has identified itself."""
        return {k: v for k, v in self.settings.items() if _automatic(k, v)}

    @property
    def forced_only(self) -> dict[str, object]:
        """The settings that apply only when the recipe is forced (``meter_model``)."""
        return {k: v for k, v in self.settings.items() if not _automatic(k, v)}

    def matches(self, ident: Identification) -> bool:
        """Whether the identification names this meter family."""
        return self.core.matches(ident)


def _entry(raw: Mapping[str, Any], origin: str) -> RecipeEntry:
    """One checked recipe.

    Raises:
        ConfigError: the first problem, naming the recipe and the field.
    """
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"{origin}: recipe name {name!r}: 1-64 letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    where = f"{origin}: recipe {name}"
    unknown = sorted(set(raw) - {"name", "manufacturer", "model", "title", "source", "settings"})
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}")
    texts: dict[str, str] = {}
    for key in ("manufacturer", "model", "title", "source"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be text")
        texts[key] = value
    if not texts["manufacturer"]:
        raise ConfigError(f"{where}: manufacturer is required (a pattern of the three letters)")
    if not texts["source"]:
        raise ConfigError(f"{where}: source is required (where the quirk is documented)")
    given = raw.get("settings", {})
    if not isinstance(given, dict) or not given:
        raise ConfigError(f"{where}: settings must be a table with at least one setting")
    settings: dict[str, object] = {}
    for key, value in given.items():
        check = SETTINGS.get(key)
        if check is None:
            raise ConfigError(f"{where}: unknown setting {key!r}; allowed: {', '.join(SETTINGS)}")
        try:
            settings[key] = check(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key} = {value!r}: allowed {exc}") from None
    adjust = tuple(
        (AFTER_IDENTIFICATION[k][0], AFTER_IDENTIFICATION[k][1](v))
        for k, v in settings.items()
        if _automatic(k, v)
    )
    try:
        core = Recipe(
            name=name,
            manufacturer=texts["manufacturer"],
            model=texts["model"],
            adjust=adjust,
            title=texts["title"],
            source=texts["source"],
        )
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return RecipeEntry(
        name=name,
        manufacturer=texts["manufacturer"],
        model=texts["model"],
        title=texts["title"],
        source=texts["source"],
        settings=settings,
        origin=origin,
        core=core,
    )


@dataclass(frozen=True, slots=True)
class RecipeBook:
    """The recipes obisgate knows, in the order they apply.

    Attributes:
        entries: packaged recipes, then the user's.
        recipes: the core's view of them (what applies after the identification).
        environment_variable: names the user's own recipes file (``OBISGATE_RECIPES``).
    """

    environment_variable: ClassVar[str] = ENVIRONMENT_VARIABLE
    entries: tuple[RecipeEntry, ...]
    recipes: tuple[Recipe, ...] = field(init=False, repr=False, compare=False)

    @classmethod
    def packaged(cls) -> RecipeBook:
        """obisgate's own recipes (read once)."""
        return builtin_recipes()

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipes", tuple(e.core for e in self.entries))

    def get(self, name: str) -> RecipeEntry | None:
        """The recipe called ``name`` (any case), or ``None``."""
        wanted = name.strip().lower()
        return next((e for e in self.entries if e.name.lower() == wanted), None)

    def names(self) -> list[str]:
        """Every recipe name, in table order."""
        return [e.name for e in self.entries]

    def matching(self, ident: Identification) -> tuple[RecipeEntry, ...]:
        """The recipes whose manufacturer and model match ``ident``, in table order."""
        return tuple(e for e in self.entries if e.matches(ident))

    def rules_for_device(self, given: Iterable[str], *, off: bool = False) -> RecipeRules:
        """The rules of a configured device: ``given``, its fields set explicitly
        (recipes never change them); ``off`` (``meter_model = "none"``): no recipes."""
        keep = core_fields(given)
        return RecipeRules(keep=keep) if off else self.rules(keep)

    def rules(self, keep: frozenset[str] = frozenset(), forced: str | None = None) -> RecipeRules:
        """What a client applies after the identification.

        Args:
            keep: core option fields given explicitly (see :func:`core_fields`).
            forced: a recipe name applied whatever the identification says;
                ``"none"`` turns every recipe off.

        Raises:
            ConfigError: ``forced`` names no recipe.
        """
        if forced is not None and forced.strip().lower() == "none":
            return RecipeRules(keep=keep)
        entry = None
        if forced is not None:
            entry = self.get(forced)
            if entry is None:
                raise ConfigError(
                    f"no recipe {forced!r}; known: {', '.join(self.names())} (or none)"
                )
        return RecipeRules(self.recipes, None if entry is None else entry.core, keep)


def _read_file(text: str, origin: str) -> list[RecipeEntry]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"recipe"})
    if unknown:
        raise ConfigError(f"{origin}: unknown table {unknown[0]!r}; recipes are [[recipe]] tables")
    raws = data.get("recipe", [])
    if not isinstance(raws, list):
        raise ConfigError(f"{origin}: recipes are [[recipe]] tables")
    entries = [_entry(raw, origin) for raw in raws]
    seen: set[str] = set()
    for entry in entries:
        if entry.name.lower() in seen:
            raise ConfigError(f"{origin}: recipe {entry.name} is defined twice")
        seen.add(entry.name.lower())
    return entries


@functools.cache
def builtin_recipes() -> RecipeBook:
    """The packaged recipes (read once)."""
    text = _PACKAGED.read_text(encoding="utf-8")
    return RecipeBook(tuple(_read_file(text, "obisgate")))


def load_recipes(path: str | os.PathLike[str] | None = None) -> RecipeBook:
    """The packaged recipes extended by the user's file.

    Args:
        path: the user's recipes file; ``None``: the file named by the
            ``OBISGATE_RECIPES`` environment variable, if set.

    Raises:
        ConfigError: the file cannot be read or holds a bad recipe (one line,
            naming the file, the recipe and the field).
    """
    builtin = builtin_recipes()
    if path is None:
        path = os.environ.get(ENVIRONMENT_VARIABLE) or None
        if path is None:
            return builtin
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the recipes file {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a UTF-8 text file") from None
    own = _read_file(text, str(source))
    replaced = {e.name.lower() for e in own}
    kept = tuple(e for e in builtin.entries if e.name.lower() not in replaced)
    return RecipeBook((*kept, *own))
