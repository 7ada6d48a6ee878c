"""``obisgate demo``: the gateway on its bundled configuration, against simulated meters."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from obisgate.gateway.config import load_config
from obisgate.gateway.demo_config import (
    DEMO_PROFILES,
    DEMO_SERIAL_DEVICES,
    DEMO_TCP_DEVICES,
    DEMO_WEB_LISTEN,
    render_demo_config,
)
from obisgate.gateway.outputs import Output, TableOutput
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.extras import missing_extra
from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.simulator import SimulatorServer, get_profile, serve_pty, serve_tcp

__all__ = ["run_demo"]


class _SimulatedRates(logging.Filter):
    """Drops the "converter's rate must match" hint for the demo's own TCP meters:
    a simulated meter over TCP follows any rate, so the hint would only alarm."""

    def __init__(self, urls: set[str]) -> None:
        super().__init__()
        self._urls = urls

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("cannot switch" in message and any(message.startswith(u) for u in self._urls))


def _web_extra_missing() -> str | None:
    """The one-line reason why the web view cannot run, or ``None`` when it can."""
    return missing_extra(HTTP.extras, HTTP.name)


def _show_web_address(outputs: list[Output]) -> None:
    """Put the web view's address above the table, where a redraw does not wipe it; a live
    table shows it there only (the log line would repeat it below the table)."""
    from obisgate.gateway.outputs.http.server import HttpOutput  # noqa: PLC0415

    tables = [o for o in outputs if isinstance(o, TableOutput)]
    for output in outputs:
        if isinstance(output, HttpOutput) and tables:
            announce = output.announce

            def show(line: str, announce: Callable[[str], None] = announce) -> None:
                if not any(table.live for table in tables):
                    announce(line)
                for table in tables:
                    table.title = f"{table.title}\n{line}" if table.title else line

            output.announce = show


async def run_demo(
    fmt: str,
    duration_s: float | None,
    db: Path | None,
    show_config: bool,
    web: str | None = DEMO_WEB_LISTEN,
) -> None:
    """Start the simulated meters, render the demo configuration, run the gateway.

    Args:
        web: where the web view listens (loopback by default); ``None`` for
            none. Without the ``web`` extra there is no web view and a one-line
            note says so.

    Raises:
        ObisgateError: a simulator or the gateway could not start.
    """
    from obisgate.cli.gateway_run import build_outputs, run_gateway  # noqa: PLC0415

    if web is not None and not show_config and (missing := _web_extra_missing()) is not None:
        click.echo(f"obisgate demo: no web view: {missing}", err=True)
        web = None

    bus_profiles = [get_profile(DEMO_PROFILES[alias]) for alias in DEMO_SERIAL_DEVICES]
    with tempfile.TemporaryDirectory(prefix="obisgate-demo-") as tmp:
        async with await serve_pty(bus_profiles) as bus:
            servers: dict[str, SimulatorServer] = {}
            try:
                for alias in DEMO_TCP_DEVICES:
                    servers[alias] = await serve_tcp(get_profile(DEMO_PROFILES[alias]))
                history = db or Path(tmp) / "history.sqlite"
                text = render_demo_config(
                    bus.path,
                    {alias: server.port for alias, server in servers.items()},
                    history_path=str(history),
                    web_listen=web,
                )
                if show_config:
                    click.echo(text, nl=False)
                    return
                config_path = Path(tmp) / "demo.toml"
                config_path.write_text(text, encoding="utf-8")
                config = load_config(config_path)
                banner = (
                    f"obisgate demo: {len(config.devices)} simulated meters "
                    f"(bus {bus.path}, TCP ports "
                    f"{', '.join(str(s.port) for s in servers.values())})"
                )
                click.echo(f"{banner}; Ctrl-C stops", err=True)
                session_log = logging.getLogger("obisgate.session")
                quiet = _SimulatedRates({f"tcp://127.0.0.1:{s.port}" for s in servers.values()})
                session_log.addFilter(quiet)
                context = OutputContext()
                try:
                    outputs = build_outputs(config, fmt, history, context, title=banner)
                    if config.section(HTTP) is not None:
                        _show_web_address(outputs)
                    await run_gateway(config, outputs, duration_s=duration_s, context=context)
                finally:
                    session_log.removeFilter(quiet)
                if db is not None:
                    click.echo(f"obisgate demo: history kept in {db}", err=True)
                else:
                    click.echo(
                        "obisgate demo: the history was in a temporary file, removed now "
                        "(keep it with --db FILE)",
                        err=True,
                    )
            finally:
                for server in servers.values():
                    await server.aclose()
