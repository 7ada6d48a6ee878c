"""``obisgate recipes``: the meter recipes obisgate knows, with their sources."""

from __future__ import annotations

import json
from typing import Any

import click

from obisgate.cli.common import fail
from obisgate.cli.main import main
from obisgate.cli.recipe_options import recipes_file_option
from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.identification import Identification
from obisgate.recipes import RecipeEntry, load_recipes

__all__ = ["recipes"]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _settings(settings: dict[str, object]) -> str:
    return ", ".join(f"{k} = {_value(v)}" for k, v in settings.items()) or "-"


def _text(entry: RecipeEntry) -> list[str]:
    model = entry.model or "any model"
    lines = [f"{entry.name}  ({entry.manufacturer} / {model})"]
    if entry.title:
        lines.append(f"  {entry.title}")
    lines.append(f"  after the identification: {_settings(entry.automatic)}")
    lines.append(f"  with meter_model only:    {_settings(entry.forced_only)}")
    lines.append(f"  source: {entry.source}")
    if entry.origin != "obisgate":
        lines.append(f"  from: {entry.origin}")
    return lines


def _json(entry: RecipeEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "manufacturer": entry.manufacturer,
        "model": entry.model,
        "title": entry.title,
        "source": entry.source,
        "settings": dict(entry.settings),
        "automatic": sorted(entry.automatic),
        "origin": entry.origin,
    }


@main.command("recipes")
@click.option(
    "--match",
    "identification",
    default=None,
    metavar="IDENTIFICATION",
    help="Only the recipes an identification line matches, e.g. '/LGZ4\\2ZMD120APt.G03'.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@recipes_file_option
def recipes(identification: str | None, fmt: str, recipes_file: str | None) -> None:
    """List the meter recipes: which meters, what they need, and who says so.

    A recipe is keyed by the manufacturer letters and model of the meter's
    identification. Settings marked "after the identification" are applied by
    `obisgate read`, `init` and the gateway as soon as such a meter identifies
    itself, unless you gave the setting yourself; the others apply when a
    device names the recipe in meter_model (`read --meter-model NAME`), and
    `obisgate probe` writes them. Your own recipes (--recipes FILE or
    OBISGATE_RECIPES, same format as obisgate's) come last and win.

    \b
    Example:
      obisgate recipes
      obisgate recipes --match '/LGZ4\\2ZMD120APt.G03'
    """
    try:
        book = load_recipes(recipes_file)
    except ConfigError as exc:
        fail(str(exc), 2)
    entries = list(book.entries)
    if identification is not None:
        text = identification.strip()
        try:
            ident = Identification.parse(text if text.startswith("/") else "/" + text)
        except FramingError as exc:
            fail(f"--match: {exc}", 2)
        entries = list(book.matching(ident))
    if fmt == "json":
        click.echo(json.dumps([_json(e) for e in entries], ensure_ascii=False, indent=1))
        return
    if not entries:
        click.echo("no recipe matches" if identification is not None else "no recipes")
        return
    blocks = ["\n".join(_text(e)) for e in entries]
    click.echo("\n\n".join(blocks))
