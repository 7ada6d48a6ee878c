"""``obisgate opcua-cert`` and ``obisgate opcua-user``: files a secure OPC UA server uses."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.outputs.opcua.certificate import application_uri
from obisgate.gateway.outputs.opcua.users import load_users, verify_password
from tests.services import require_module

x509 = require_module("cryptography.x509", "the opcua extra")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_opcua_cert_writes_a_certificate_for_basic256sha256(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["opcua-cert", "--out-dir", str(tmp_path), "--host", "gw.example.net",
         "--ip", "10.0.0.7", "--days", "30"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    certificate, key = tmp_path / "opcua-server.der", tmp_path / "opcua-server.key.pem"
    assert f'certificate = "{certificate}"' in result.stdout
    assert f'private_key = "{key}"' in result.stdout
    assert mode_of(key) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = x509.load_der_x509_certificate(certificate.read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:obisgate:gw.example.net"
    ]
    assert names.get_values_for_type(x509.DNSName) == ["gw.example.net"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    usage = loaded.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and usage.data_encipherment
    assert loaded.public_key().key_size == 2048
    assert loaded.signature_hash_algorithm is not None
    assert loaded.signature_hash_algorithm.name == "sha256"
    assert application_uri(certificate) == "urn:obisgate:gw.example.net"
    again = CliRunner().invoke(main, ["opcua-cert", "--out-dir", str(tmp_path)])
    assert again.exit_code == 1
    assert again.stderr.startswith("obisgate: error: ") and "--force" in again.stderr
    forced = CliRunner().invoke(main, ["opcua-cert", "--out-dir", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    bad = CliRunner().invoke(main, ["opcua-cert", "--out-dir", str(tmp_path / "x"), "--ip", "nope"])
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1


def test_opcua_user_adds_changes_and_removes(tmp_path: Path) -> None:
    users = tmp_path / "opcua-users"
    runner = CliRunner()
    result = runner.invoke(
        main, ["opcua-user", str(users), "scada", "--password-stdin"], input="s3cret-Pw\n"
    )
    assert (result.exit_code, result.stdout) == (0, f"saved scada in {users}\n")
    assert mode_of(users) == 0o600
    assert "s3cret-Pw" not in users.read_text()
    assert verify_password("s3cret-Pw", load_users(users)["scada"])
    prompted = runner.invoke(main, ["opcua-user", str(users), "ops"], input="pw-1\npw-1\n")
    assert prompted.exit_code == 0, prompted.output
    assert sorted(load_users(users)) == ["ops", "scada"]
    removed = runner.invoke(main, ["opcua-user", str(users), "ops", "--remove"])
    assert removed.exit_code == 0
    assert list(load_users(users)) == ["scada"]
    empty = runner.invoke(main, ["opcua-user", str(users), "x", "--password-stdin"], input="\n")
    assert (empty.exit_code, empty.stderr) == (2, "obisgate: error: the password is empty\n")
    bad = runner.invoke(main, ["opcua-user", str(users), "a:b", "--password-stdin"], input="x\n")
    assert bad.exit_code == 2
    assert "no ':' and no blanks" in bad.stderr
    missing = runner.invoke(main, ["opcua-user", str(tmp_path / "none"), "a", "--remove"])
    assert missing.exit_code == 2
