"""The OPC UA server's application instance certificate: made by ``obisgate opcua-cert``.

A self-signed RSA 2048 / SHA-256 certificate as OPC UA Part 6 §6.2.2 asks
for Basic256Sha256: the application URI and the host names and addresses in
the subject alternative name, key usage digital signature, non-repudiation,
key and data encipherment (and certificate signing, as it signs itself),
extended key usage server and client authentication. Uses ``cryptography``,
which the ``opcua`` extra brings with asyncua.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.extras import require_extra

__all__ = ["application_uri", "make_certificate"]


def make_certificate(
    uri: str,
    hosts: Sequence[str],
    addresses: Sequence[str],
    *,
    days: int,
    now: dt.datetime,
) -> tuple[bytes, bytes]:
    """A new key and its self-signed certificate: ``(certificate DER, private key PEM)``.

    Args:
        uri: the application URI (``urn:obisgate:HOST``), also the servers' ApplicationUri.
        hosts: DNS names the clients use to reach the server.
        addresses: IP addresses the clients use.
        days: validity from ``now``.
        now: the start of the validity.

    Raises:
        ConfigError: ``cryptography`` is missing (the ``opcua`` extra), or an
            address is not an IP address.
    """
    require_extra("cryptography", "opcua", "opcua")
    from cryptography import x509  # noqa: PLC0415 - optional extra
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    try:
        ips = [ipaddress.ip_address(a) for a in addresses]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    common_name = hosts[0] if hosts else "obisgate"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"obisgate@{common_name}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "obisgate"),
        ]
    )
    alternative: list[Any] = [x509.UniformResourceIdentifier(uri)]
    alternative += [x509.DNSName(host) for host in hosts]
    alternative += [x509.IPAddress(ip) for ip in ips]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.DER), private


def application_uri(path: Path) -> str | None:
    """The URI in the subject alternative name of the certificate at ``path`` (DER or PEM).

    Raises:
        ConfigError: the file cannot be read or is not a certificate.
    """
    require_extra("cryptography", "opcua", "opcua")
    from cryptography import x509  # noqa: PLC0415 - optional extra

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[opcua] certificate {path}: {exc.strerror or exc}") from None
    try:
        loaded = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(data)
        )
    except ValueError:
        raise ConfigError(f"[opcua] certificate {path}: not a DER or PEM certificate") from None
    try:
        names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None
