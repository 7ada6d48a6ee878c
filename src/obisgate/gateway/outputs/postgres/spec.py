"""The PostgreSQL output as the configuration knows it: ``[postgres]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.postgres.config import PostgresConfig
from obisgate.gateway.outputs.spec import Extra, OutputSpec
from obisgate.password_config import password_file_is_private

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["POSTGRES"]


def _create(config: GatewayConfig, section: PostgresConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.postgres.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _load_warnings(section: PostgresConfig) -> list[tuple[str, str]]:
    file = section.password_file
    if file is not None and not password_file_is_private(file):
        return [("password_file", "password_file is readable by group or others; chmod 600 it")]
    return []


POSTGRES: OutputSpec[PostgresConfig] = OutputSpec(
    name="postgres",
    title="PostgreSQL",
    summary=(
        "Present = every readout is stored in PostgreSQL (the readings table, dead letters "
        "for rows it refuses) through a durable outbox beside the history: the billing path, "
        "with no broker between the meter and the database."
    ),
    model=PostgresConfig,
    create=_create,
    extras=(Extra("asyncpg", "postgres"),),
    with_base_dir=PostgresConfig.with_base_dir,
    load_warnings=_load_warnings,
    problems=PostgresConfig.start_problems,
    describe=lambda section, source: section.dsn,
    beside_history=True,
)
