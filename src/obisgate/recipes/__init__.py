"""Meter recipes: the settings known meter families need, with their sources.

The table is data (``recipes.toml`` in this package, extended by the user's own
file); :mod:`obisgate.recipes.book` reads and checks it,
:mod:`obisgate.recipes.settings` applies ``[[devices]]``-style settings to the
reader's options. The core applies the part that acts after the
identification (:mod:`obisgate.protocol.recipes`).
"""

from __future__ import annotations

from obisgate.recipes.book import (
    AFTER_IDENTIFICATION,
    ENVIRONMENT_VARIABLE,
    SETTINGS,
    RecipeBook,
    RecipeEntry,
    builtin_recipes,
    core_fields,
    load_recipes,
)
from obisgate.recipes.settings import apply_settings

__all__ = [
    "AFTER_IDENTIFICATION",
    "ENVIRONMENT_VARIABLE",
    "SETTINGS",
    "RecipeBook",
    "RecipeEntry",
    "apply_settings",
    "builtin_recipes",
    "core_fields",
    "load_recipes",
]
