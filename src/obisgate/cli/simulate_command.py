"""Subcommands: filled in by their owner."""

from __future__ import annotations

from obisgate.cli.main import main

__all__ = ["main"]
