"""``obisgate simulate``: serve simulated IEC 62056-21 meters on TCP, a pty or RFC 2217."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

from obisgate.cli.main import main
from obisgate.errors import ConfigError
from obisgate.simulator import (
    FAULTS,
    Faults,
    MeterProfile,
    builtin_profiles,
    consecutive_addresses,
    resolve_profile,
    serve_pty,
    serve_rfc2217,
    serve_tcp,
    serve_tcp_each,
)

__all__ = ["main", "simulate"]

_DEFAULT_LISTEN = "tcp://127.0.0.1:0"
_DEFAULT_PROFILE = "e350"
_SCHEMES = ("tcp", "rfc2217")
_LOGGED_METERS = 20


class _UsageError(click.ClickException):
    exit_code = 2


class _OneLineErrors(click.Command):
    """Reports bad arguments as one ``Error: ...`` line (no usage block)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message()) from None


@dataclass(frozen=True, slots=True)
class _Listen:
    scheme: str
    host: str
    port: int


def _parse_listen(url: str) -> _Listen:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise _UsageError(f"--listen {url!r}: use tcp://HOST:PORT or rfc2217://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/") or parts.query:
        raise _UsageError(f"--listen {url!r}: use {parts.scheme}://HOST:PORT (port 0: any free)")
    return _Listen(parts.scheme, parts.hostname, port)


def _build_profiles(names: Sequence[str], address: str | None, count: int) -> list[MeterProfile]:
    profiles: list[MeterProfile] = []
    for name in names or (_DEFAULT_PROFILE,):
        base = resolve_profile(name)
        first = address
        if address is not None and profiles:
            # addresses continue from the previous profile's last meter
            first = consecutive_addresses(profiles[-1].address, 2)[1]
        profiles += base.clones(count, first)
    return profiles


def _list_profiles() -> None:
    for profile in builtin_profiles().values():
        ident = profile.identification_message().decode("latin-1").rstrip()
        click.echo(
            f"{profile.name:10} mode {profile.protocol_mode.value} {profile.switch_baud:>5} Bd  "
            f"{ident:28} address {profile.address or '-':10} {profile.description}"
        )


def _list_faults() -> None:
    for name, text in FAULTS.items():
        click.echo(f"{name:15} {text}")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("obisgate")
    logger.addHandler(handler)
    logger.setLevel(level)


_FAULT_HELP = "; ".join(FAULTS)


@main.command("simulate", cls=_OneLineErrors)
@click.option(
    "--listen",
    metavar="URL",
    help=f"tcp://HOST:PORT or rfc2217://HOST:PORT; port 0 picks a free one "
    f"(default {_DEFAULT_LISTEN}).",
)
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pseudo-terminal instead.")
@click.option(
    "--profile",
    "profile_names",
    multiple=True,
    metavar="NAME|FILE",
    help=f"Built-in profile or profile file (.toml, or a captured readout); "
    f"repeatable: several meters share the line (default {_DEFAULT_PROFILE}).",
)
@click.option("--address", metavar="ADDR", help="Device address of the (first) meter.")
@click.option(
    "--count",
    type=int,
    default=1,
    show_default=True,
    help="Meters per profile, with consecutive addresses.",
)
@click.option("--realtime", is_flag=True, help="Send every byte at its wire time.")
@click.option(
    "--fault", "fault_names", multiple=True, metavar="NAME", help=f"Inject: {_FAULT_HELP}."
)
@click.option(
    "--listener-per-meter",
    is_flag=True,
    help="TCP: one listener (port) per meter instead of all meters on one.",
)
@click.option(
    "--converter-baud",
    type=click.Choice(["300", "600", "1200", "2400", "4800", "9600", "19200"]),
    default=None,
    help="TCP: a converter whose serial side is fixed at this rate (a meter sending "
    "at another rate arrives garbled).",
)
@click.option(
    "--mode-e-confirm",
    type=click.Choice(["7E1", "8N1"], case_sensitive=False),
    default=None,
    help="Mode E meters confirm ACK 2Z2 at the new rate still 7E1, or already 8N1 with "
    "the parity bit set (default: the profile's, 7E1).",
)
@click.option("--list-profiles", is_flag=True, help="List the built-in profiles and exit.")
@click.option("--list-faults", is_flag=True, help="List the faults and exit.")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log each exchange (-v), and every transmission (-vv), to stderr.",
)
def simulate(
    listen: str | None,
    use_pty: bool,
    profile_names: tuple[str, ...],
    address: str | None,
    count: int,
    realtime: bool,
    fault_names: tuple[str, ...],
    listener_per_meter: bool,
    converter_baud: str | None,
    mode_e_confirm: str | None,
    list_profiles: bool,
    list_faults: bool,
    verbose: int,
) -> None:
    """Simulate IEC 62056-21 meters for a reader to talk to.

    Prints "listening on URL" (the real port, or the pty device path) as its
    first line, then serves until SIGINT or SIGTERM. Each TCP or RFC 2217
    connection, and the pty, is one line carrying every meter; the request's
    address selects the meter, as on an RS-485 bus.

    \b
    Example:
      obisgate simulate --listen tcp://127.0.0.1:4001 --profile mt174
      obisgate read tcp://127.0.0.1:4001          # in another terminal
    """
    if list_profiles or list_faults:
        if list_profiles:
            _list_profiles()
        if list_faults:
            _list_faults()
        return
    if use_pty and listen is not None:
        raise _UsageError("give either --listen or --pty, not both")
    if count < 1:
        raise _UsageError(f"--count {count}: must be at least 1")
    target = None if use_pty else _parse_listen(listen or _DEFAULT_LISTEN)
    if listener_per_meter and (target is None or target.scheme != "tcp"):
        raise _UsageError("--listener-per-meter needs --listen tcp://...")
    if converter_baud is not None and (
        target is None or target.scheme != "tcp" or listener_per_meter
    ):
        raise _UsageError("--converter-baud needs --listen tcp://... (one listener)")
    try:
        faults = Faults.from_names(fault_names)
        profiles = _build_profiles(profile_names, address, count)
        if mode_e_confirm is not None:
            profiles = [
                p.replace(dlms=dataclasses.replace(p.dlms, confirm=mode_e_confirm.upper()))
                if p.dlms is not None
                else p
                for p in profiles
            ]
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    _setup_logging(verbose)
    options: dict[str, Any] = {"faults": faults, "realtime": realtime}
    if converter_baud is not None:
        options["converter_baud"] = int(converter_baud)
    asyncio.run(_serve(target, profiles, listener_per_meter, options))


async def _serve(
    target: _Listen | None,
    profiles: list[MeterProfile],
    per_meter: bool,
    options: dict[str, Any],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server: Any
    try:
        if target is None:
            server = await serve_pty(profiles, **options)
            urls = [server.path]
        elif per_meter:
            server = await serve_tcp_each(profiles, host=target.host, **options)
            urls = server.urls
        else:
            serve = serve_tcp if target.scheme == "tcp" else serve_rfc2217
            server = await serve(profiles, host=target.host, port=target.port, **options)
            urls = [server.url]
    except OSError as exc:
        where = "a pseudo-terminal" if target is None else f"{target.host}:{target.port}"
        raise click.ClickException(f"cannot listen on {where}: {exc.strerror or exc}") from None
    try:
        for url in urls:
            click.echo(f"listening on {url}")
        sys.stdout.flush()
        logger = logging.getLogger("obisgate.simulator")
        for i, profile in enumerate(profiles[:_LOGGED_METERS]):
            where = urls[i] if per_meter else urls[0]
            logger.info(
                "meter %s: %s %s on %s",
                profile.address or "-",
                profile.name,
                profile.identification_message().decode("latin-1").rstrip(),
                where,
            )
        if len(profiles) > _LOGGED_METERS:
            logger.info("... and %d more meters", len(profiles) - _LOGGED_METERS)
        await stop.wait()
    finally:
        await server.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
