"""The OPC UA server as the configuration knows it: ``[opcua]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.opcua.config import OpcUaConfig
from obisgate.gateway.outputs.opcua.printed_map import opcua_map
from obisgate.gateway.outputs.spec import Extra, OutputSpec
from obisgate.password_config import password_file_is_private

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["OPCUA"]


def _create(config: GatewayConfig, section: OpcUaConfig, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.opcua.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


def _load_warnings(section: OpcUaConfig) -> list[tuple[str, str]]:
    """Files that are missing, unreadable, or readable by others than obisgate's user."""
    from obisgate.gateway.outputs.opcua.users import load_users  # noqa: PLC0415

    warnings: list[tuple[str, str]] = []
    for field in ("certificate", "private_key", "users_file"):
        path = getattr(section, field)
        if path is not None and not path.is_file():
            warnings.append((field, f"{path} does not exist: the OPC UA server will not start"))
    key, users = section.private_key, section.users_file
    if key is not None and key.is_file() and not password_file_is_private(key):
        warnings.append(("private_key", "private_key is readable by group or others; chmod 600 it"))
    if users is not None and users.is_file():
        if not password_file_is_private(users):
            warnings.append(
                ("users_file", "users_file is readable by group or others; chmod 600 it")
            )
        try:
            load_users(users)
        except ConfigError as exc:
            warnings.append(("users_file", f"{exc}: the OPC UA server will not start"))
    return warnings


OPCUA: OutputSpec[OpcUaConfig] = OutputSpec(
    name="opcua",
    title="OPC UA",
    summary=(
        "Present = an OPC UA server (asyncua, LGPL-3.0) exposes one variable per enabled "
        "signal and each device's `_status`: anonymous on loopback only, otherwise "
        "Basic256Sha256 with the users of `users_file`."
    ),
    model=OpcUaConfig,
    create=_create,
    extras=(Extra("asyncua", "opcua"),),
    with_base_dir=OpcUaConfig.with_base_dir,
    load_warnings=_load_warnings,
    show_map=opcua_map,
    shared=True,  # one server for every worker (run --workers: in the supervisor)
)
