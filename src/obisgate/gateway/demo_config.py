"""The bundled demo configuration (``demo.toml``) and how its placeholders are filled in.

The template has two kinds of placeholder: ``device = "{pty}"`` on the devices
of the shared serial bus, replaced by the simulator's pseudo-terminal path, and
``port = 0`` on the TCP devices, replaced by the port of each device's simulated
meter. :data:`DEMO_PROFILES` says which built-in simulator profile each device
expects. Its ``[http]`` section (the web view on loopback) is kept, readdressed
or left out.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

import tomli_w

from obisgate import ConfigError
from obisgate.gateway.outputs.http.spec import HTTP

__all__ = [
    "DEMO_PROFILES",
    "DEMO_SERIAL_DEVICES",
    "DEMO_TCP_DEVICES",
    "DEMO_WEB_LISTEN",
    "demo_template",
    "render_demo_config",
]

PTY_PLACEHOLDER = "{pty}"

#: Device alias -> the built-in simulator profile it is meant to read.
DEMO_PROFILES: Mapping[str, str] = {
    "bus-mt174": "mt174",
    "bus-e350": "e350",
    "tcp-kamstrup": "kamstrup",
    "tcp-aux": "aux",
}
#: Devices on the shared pseudo-terminal bus.
DEMO_SERIAL_DEVICES = ("bus-mt174", "bus-e350")
#: Devices reached over TCP, each on its own port.
DEMO_TCP_DEVICES = ("tcp-kamstrup", "tcp-aux")
#: Where the demo's web view listens by default (loopback, a free port).
DEMO_WEB_LISTEN = "127.0.0.1:0"


def demo_template() -> str:
    """The text of the bundled ``demo.toml`` (with its placeholders)."""
    return resources.files("obisgate.gateway").joinpath("demo.toml").read_text(encoding="utf-8")


def render_demo_config(
    pty_path: str,
    tcp_ports: Mapping[str, int],
    *,
    history_path: str | None = None,
    web_listen: str | None = DEMO_WEB_LISTEN,
) -> str:
    """The demo configuration with its placeholders filled in, as TOML text.

    Args:
        pty_path: the simulator's pseudo-terminal path (the shared bus).
        tcp_ports: TCP port per device alias, for every alias in
            :data:`DEMO_TCP_DEVICES` (all on 127.0.0.1).
        history_path: replaces ``[storage] path`` (default: a file next to
            wherever the rendered text is saved).
        web_listen: ``[http] listen`` of the web view; ``None`` leaves the
            ``[http]`` section out (no web view).

    Returns:
        TOML text for :func:`~obisgate.gateway.config.load_config` (the
        template's comments are not kept).

    Raises:
        ConfigError: a TCP device of the template has no port in ``tcp_ports``,
            or ``tcp_ports`` names a device the template does not have.
    """
    data: dict[str, Any] = tomllib.loads(demo_template())
    unused = set(tcp_ports)
    for device in data["devices"]:
        alias = device["device_alias"]
        if device.get("device") == PTY_PLACEHOLDER:
            device["device"] = pty_path
        if device.get("port") == 0:
            if alias not in tcp_ports:
                raise ConfigError(f"demo device {alias}: no TCP port given")
            device["port"] = tcp_ports[alias]
            unused.discard(alias)
    if unused:
        raise ConfigError(f"demo has no TCP device {', '.join(sorted(unused))}")
    if history_path is not None:
        data.setdefault("storage", {})["path"] = history_path
    if web_listen is None:
        data.pop(HTTP.name, None)
    else:
        data.setdefault(HTTP.name, {})["listen"] = web_listen
    return tomli_w.dumps(data)
