"""``--meter-model`` and ``--recipes`` of the commands that read a meter, and their effect.

After the identification, every recipe matching the meter changes the settings
that act from then on, unless the option was given on the command line;
``--meter-model NAME`` forces a recipe (all its settings, also those acting
before the request, again unless given); ``--meter-model none`` turns recipes
off. ``--recipes FILE`` (or ``OBISGATE_RECIPES``) adds the user's own recipes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from obisgate.protocol.client import ReadoutOptions, ReadResult
from obisgate.protocol.recipes import RecipeRules
from obisgate.recipes import ENVIRONMENT_VARIABLE, RecipeBook, apply_settings, load_recipes
from obisgate.transport.base import LineSettings

__all__ = [
    "RecipeSetup",
    "explicit_params",
    "given_core",
    "given_fields",
    "log_recipes",
    "recipe_options",
    "recipe_setup",
    "recipes_file_option",
]

_LOGGER = logging.getLogger("obisgate")

#: Command-line parameter -> the core option fields it sets (for RecipeRules.keep).
_KEEP: dict[str, tuple[str, ...]] = {
    "mode": ("mode",),
    "no_switch": ("switch_baud",),
    "max_baud": ("max_baud",),
    "force_baud": ("force_baud",),
    "t2_ms": ("reaction_time_s",),
    "baud_change_delay_ms": ("baud_change_delay_s",),
    "timeout_s": ("response_timeout_s", "inter_byte_timeout_s"),
    "bcc_method": ("bcc_method",),
    "no_verify_bcc": ("verify_bcc",),
    "repeat_requests": ("repeat_requests",),
    "no_echo_strip": ("strip_echo",),
}
#: Recipe setting ([[devices]] field) -> the command-line parameter that gives it.
_PARAM: dict[str, str] = {
    "type": "mode",
    "switch_baud": "no_switch",
    "max_baud": "max_baud",
    "force_baud": "force_baud",
    "t2": "t2_ms",
    "baud_change_delay_ms": "baud_change_delay_ms",
    "timeout_ms": "timeout_s",
    "inter_byte_timeout_ms": "timeout_s",
    "bcc_method": "bcc_method",
    "verify_bcc": "no_verify_bcc",
    "repeat_requests": "repeat_requests",
    "strip_echo": "no_echo_strip",
    "wakeup": "wakeup_nuls",
    "request_start": "request_start",
    "baudrate": "baudrate",
    "databits": "databits",
    "parity": "parity",
    "software_parity": "software_parity",
    "total_timeout_ms": "total_timeout",
}


def recipes_file_option(fn: Any) -> Any:
    """``--recipes FILE`` (default: the ``OBISGATE_RECIPES`` environment variable)."""
    return click.option(
        "--recipes",
        "recipes_file",
        type=click.Path(dir_okay=False),
        default=None,
        envvar=ENVIRONMENT_VARIABLE,
        help=f"Your own recipes file, extending obisgate's [env {ENVIRONMENT_VARIABLE}].",
    )(fn)


def recipe_options(fn: Any) -> Any:
    """``--meter-model`` and ``--recipes``."""
    fn = recipes_file_option(fn)
    return click.option(
        "--meter-model",
        default=None,
        metavar="RECIPE",
        help="Use this recipe whatever the meter identifies as (none: no recipes). "
        "See `obisgate recipes`.",
    )(fn)


def given_fields(given: set[str]) -> frozenset[str]:
    """The ``[[devices]]`` fields set by the command-line parameters in ``given``."""
    return frozenset(field for field, param in _PARAM.items() if param in given)


def given_core(given: set[str]) -> frozenset[str]:
    """The reader option fields set by the command-line parameters in ``given``."""
    return frozenset(field for name in given for field in _KEEP.get(name, ()))


def explicit_params(ctx: click.Context, params: Mapping[str, Any]) -> set[str]:
    """The parameters given on the command line (or by environment), not left at their default."""
    return {
        name
        for name in params
        if ctx.get_parameter_source(name)
        not in (None, click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
    }


@dataclass(frozen=True, slots=True)
class RecipeSetup:
    """What the recipes make of one command's reading settings.

    Attributes:
        options, line: the reader and line settings, a forced recipe applied.
        rules: what the reader applies after the identification.
        book: the recipe table.
        rest: a forced recipe's settings no part of one readout
            (``total_timeout_ms``, ``decimal_comma``, ``read_command``).
    """

    options: ReadoutOptions
    line: LineSettings
    rules: RecipeRules
    book: RecipeBook
    rest: dict[str, object]


def recipe_setup(
    ctx: click.Context,
    params: Mapping[str, Any],
    options: ReadoutOptions,
    line: LineSettings,
) -> RecipeSetup:
    """The recipe table, the rules and the forced recipe's settings for one command.

    Raises:
        ConfigError: the recipes file is bad, or ``--meter-model`` names no recipe
            (or a forced setting the options refuse).
    """
    book = load_recipes(params.get("recipes_file"))
    given = explicit_params(ctx, params)
    keep = given_core(given)
    forced_name = params.get("meter_model")
    rules = book.rules(keep, forced=forced_name)
    rest: dict[str, object] = {}
    forced = rules.forced
    if forced is not None:
        entry = book.get(forced.name)
        assert entry is not None
        settings = {k: v for k, v in entry.settings.items() if _PARAM.get(k) not in given}
        options, line, rest = apply_settings(options, line, settings)
    return RecipeSetup(options, line, rules, book, rest)


def log_recipes(result: ReadResult, book: RecipeBook) -> None:
    """One info line (``-v``) per recipe the read applied, with its source."""
    for name in result.recipes:
        entry = book.get(name)
        if entry is not None:
            _LOGGER.info("recipe %s applied: %s (source: %s)", name, entry.title, entry.source)
