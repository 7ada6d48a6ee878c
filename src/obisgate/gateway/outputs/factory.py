"""Build the network outputs a configuration turns on, and what ``check`` says about them.

Every function here reads the list of output specs
(:data:`~obisgate.gateway.outputs.registry.OUTPUT_SPECS` unless given): an
output is built by its spec's factory when its section is present; its
optional library is imported through
:func:`~obisgate.gateway.outputs.extras.require_extra`, so a missing extra is a
one-line :class:`~obisgate.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.extras import missing_extra
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig

__all__ = [
    "config_warnings",
    "missing_extras",
    "network_outputs",
    "outputs_on",
    "show_maps",
]

Specs = Sequence[OutputSpec[Any]]


def outputs_on(config: GatewayConfig, specs: Specs = OUTPUT_SPECS) -> list[OutputSpec[Any]]:
    """The specs whose section is present (their output is on), in spec order."""
    return [spec for spec in specs if config.section(spec) is not None]


def missing_extras(config: GatewayConfig, specs: Specs = OUTPUT_SPECS) -> list[str]:
    """One line for every present section whose optional extra is not installed."""
    found = (missing_extra(spec.extras, spec.name) for spec in outputs_on(config, specs))
    return [problem for problem in found if problem is not None]


def config_warnings(config: GatewayConfig, specs: Specs = OUTPUT_SPECS) -> list[str]:
    """One line per risk of a present section (a server without authentication that
    listens beyond this machine ...); the outputs log the same line when they start."""
    warnings: list[str] = []
    for spec in specs:
        section = config.section(spec)
        if section is not None and spec.warnings is not None:
            warnings += spec.warnings(section)
    return warnings


def show_maps(config: GatewayConfig, specs: Specs = OUTPUT_SPECS) -> list[list[str]]:
    """The ``check --show-map`` block of every output that prints one (empty ones left out)."""
    blocks = (
        spec.show_map(config, config.section(spec)) for spec in specs if spec.show_map is not None
    )
    return [block for block in blocks if block]


def network_outputs(
    config: GatewayConfig,
    context: OutputContext,
    specs: Specs = OUTPUT_SPECS,
    *,
    shared: bool | None = None,
) -> list[Output]:
    """The outputs of every present section, in spec order.

    ``shared`` picks among them: ``True`` only the servers one supervisor runs for
    all workers (:attr:`OutputSpec.shared`), ``False`` only the others (what each
    worker of ``run --workers`` runs itself), ``None`` all.

    Raises:
        ConfigError: outputs' optional extras are missing (every one, one line
            each), or a section cannot be used.
    """
    if shared is not None:
        specs = [spec for spec in specs if spec.shared is shared]
    if missing := missing_extras(config, specs):
        raise ConfigError("\n".join(missing))
    outputs: list[Output] = []
    for spec in specs:
        section = config.section(spec)
        if section is not None:
            outputs.append(spec.create(config, section, context))
    return outputs
