"""``obisgate opcua-cert`` and ``obisgate opcua-user``: what a secure OPC UA server needs."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from pathlib import Path

import click

from obisgate.cli.common import fail
from obisgate.cli.main import main
from obisgate.cli.params import Bounded
from obisgate.errors import ConfigError
from obisgate.gateway.outputs.opcua.spec import OPCUA

__all__ = ["opcua_cert", "opcua_user"]

CERTIFICATE = "opcua-server.der"
PRIVATE_KEY = "opcua-server.key.pem"


@main.command("opcua-cert")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help=f"Folder for {CERTIFICATE} and {PRIVATE_KEY}.",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="A DNS name clients use to reach the server (repeat; default: this host's name "
    "and localhost).",
)
@click.option(
    "--ip",
    "addresses",
    multiple=True,
    help="An IP address clients use (repeat; default: 127.0.0.1).",
)
@click.option(
    "--uri",
    default=None,
    help="The application URI (default: urn:obisgate:HOST).",
)
@click.option(
    "--days",
    type=Bounded(1, 36500, "days"),
    default=3650,
    show_default=True,
    help="Validity.",
)
@click.option("--force", is_flag=True, help="Replace existing files.")
def opcua_cert(
    out_dir: Path,
    hosts: tuple[str, ...],
    addresses: tuple[str, ...],
    uri: str | None,
    days: float,
    force: bool,
) -> None:
    """Make the OPC UA server's certificate and private key (RSA 2048, SHA-256, self-signed)
    for the Basic256Sha256 endpoints.

    \b
    Example:
      obisgate opcua-cert --out-dir /etc/obisgate --host scada-gw.example.net --ip 10.0.0.7
    then in [opcua]:
      certificate = "opcua-server.der"
      private_key = "opcua-server.key.pem"

    Clients must trust the certificate (copy opcua-server.der into their trusted folder).
    The key file is written with mode 0600.
    """
    from obisgate.gateway.outputs.opcua.certificate import make_certificate  # noqa: PLC0415

    names = list(hosts) or [socket.gethostname(), "localhost"]
    ips = list(addresses) or ["127.0.0.1"]
    application = uri or f"urn:obisgate:{names[0]}"
    certificate, key = out_dir / CERTIFICATE, out_dir / PRIVATE_KEY
    existing = [str(p) for p in (certificate, key) if p.exists()]
    if existing and not force:
        fail(f"{' and '.join(existing)} exist (--force replaces them)")
    try:
        der, pem = make_certificate(
            application, names, ips, days=int(days), now=dt.datetime.now(dt.UTC)
        )
    except ConfigError as exc:
        fail(str(exc), 2)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_private(key, pem)
        certificate.write_bytes(der)
    except OSError as exc:
        fail(f"cannot write to {out_dir}: {exc.strerror or exc}")
    click.echo(f"wrote {certificate} and {key} (application URI {application})")
    click.echo(f"[{OPCUA.name}]")
    click.echo(f'certificate = "{certificate.resolve()}"')
    click.echo(f'private_key = "{key.resolve()}"')


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by this user only."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


@main.command("opcua-user")
@click.argument("users_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking.",
)
@click.option("--remove", is_flag=True, help="Remove the user instead.")
def opcua_user(users_file: Path, name: str, password_stdin: bool, remove: bool) -> None:
    """Add a user to the OPC UA users file, or change or remove one.

    The file keeps a scrypt hash of the password, never the password; it is
    written with mode 0600. Point [opcua] users_file at it.

    \b
    Example:
      obisgate opcua-user /etc/obisgate/opcua-users scada
      echo "$PW" | obisgate opcua-user opcua-users scada --password-stdin
    """
    from obisgate.gateway.outputs.opcua.users import save_user  # noqa: PLC0415

    password: str | None = None
    if remove and not users_file.exists():
        fail(f"{users_file} does not exist", 2)
    if not remove:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt(
                f"password for {name}", hide_input=True, confirmation_prompt=True
            )
        if not password:
            fail("the password is empty", 2)
    try:
        save_user(users_file, name, password)
    except ConfigError as exc:
        fail(str(exc), 2)
    click.echo(f"{'removed' if remove else 'saved'} {name} in {users_file}")
