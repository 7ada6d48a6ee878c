"""The ``obisgate`` command line: ``main`` plus the modules that register subcommands."""

from __future__ import annotations

from obisgate.cli import (
    gateway_commands,
    get_set_profile_commands,
    opcua_commands,
    plan_command,
    probe_command,
    read_command,
    recipes_command,
    run_command,
    simulate_command,
    sink_command,
)
from obisgate.cli.main import main

__all__ = [
    "gateway_commands",
    "get_set_profile_commands",
    "main",
    "opcua_commands",
    "plan_command",
    "probe_command",
    "read_command",
    "recipes_command",
    "run_command",
    "simulate_command",
    "sink_command",
]
