"""Gateway configuration: where the configuration meets the list of outputs.

:func:`load_config` reads a file (:mod:`~obisgate.gateway.config_files`: TOML,
Excel, CSV) into located raw rows, validates them into the frozen models of
:mod:`~obisgate.gateway.config_models` (:mod:`~obisgate.gateway.config_build`),
with the sections and signal columns of the output specs
(:data:`~obisgate.gateway.outputs.registry.OUTPUT_SPECS` unless given). Every
field, its default and what it means are in ``docs/configuration.md``, generated
from the models (``scripts/config-reference``); the design is the section
"Configuration" of ``docs/architecture.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obisgate.gateway.config_build import build_config, table_fields
from obisgate.gateway.config_files import read_tables
from obisgate.gateway.config_models import (
    DEFAULT_HISTORY_FILE,
    DeviceConfig,
    GatewayConfig,
    OutputConfig,
    SignalConfig,
    StorageConfig,
)
from obisgate.gateway.config_rows import ConfigFileError, ConfigProblem, RawTables
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gateway.shard import Shard
from obisgate.gcpause import paused_gc

__all__ = [
    "DEFAULT_HISTORY_FILE",
    "ConfigFileError",
    "ConfigProblem",
    "DeviceConfig",
    "GatewayConfig",
    "OutputConfig",
    "SignalConfig",
    "StorageConfig",
    "load_config",
    "read_config_tables",
]


def load_config(
    path: str | os.PathLike[str],
    specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS,
    *,
    shard: Shard | None = None,
) -> GatewayConfig:
    """Load and validate a gateway configuration.

    Args:
        path: a TOML file (the default for any name that is not ``.xlsx``,
            ``.xlsm`` or ``.csv``), an Excel workbook, one ``.csv`` file of a
            ``*devices*``/``*signals*`` pair, or a directory holding
            ``devices.csv`` and ``signals.csv`` (sections: sheets or files
            named after them, see :mod:`obisgate.gateway.config_files`).
        specs: the outputs whose sections and signal columns the configuration
            may hold (every output of obisgate by default).
        shard: keep only the devices (and their signals) of this shard's lines,
            the devices it polls (:mod:`obisgate.gateway.config_shard`): the other
            rows are never validated, so their problems are not found here.

    Returns:
        The configuration, with warnings in :attr:`GatewayConfig.warnings`.
        Relative ``storage.path``, ``password_file`` and the sections' file
        names are resolved against the configuration's directory (a CSV
        directory itself), whichever format holds them.

    Raises:
        ConfigFileError: the file is missing or unreadable, or has one or more
            errors; ``.problems`` lists all of them (file, row or line, field,
            what is allowed) and ``str()`` gives one line per problem.
    """
    with paused_gc():
        return build_config(read_config_tables(path, specs), specs, shard)


def read_config_tables(
    path: str | os.PathLike[str], specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS
) -> RawTables:
    """The raw rows of a configuration (:func:`load_config`'s first half: the file read
    and parsed, nothing validated), with every reading problem in ``problems``.

    Raises:
        ConfigFileError: the file or directory does not exist.
    """
    source = Path(path)
    if not source.exists():
        raise ConfigFileError([ConfigProblem(str(source), "no such file or directory")])
    with paused_gc():
        return read_tables(source, table_fields(specs))
