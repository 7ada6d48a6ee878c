"""The OPC UA server's doors, tried with node-opcua (a client not written here) and asyncua's
client: no user name login without encryption, no credential that is not configured,
anonymous only on loopback; every value with its reading's time and the server's time,
its engineering unit and description; a peer's junk in one line."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.outputs.opcua.certificate import make_certificate
from obisgate.gateway.outputs.opcua.config import OpcUaConfig
from obisgate.gateway.outputs.opcua.output import OpcUaOutput, Variable
from obisgate.gateway.outputs.opcua.units import unit_of
from obisgate.gateway.outputs.opcua.users import load_users, save_user, verify_password
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from tests.scada.node_peer import opcua_client
from tests.services import require_module

pytestmark = [pytest.mark.integration]

asyncua = require_module("asyncua", "the opcua extra")

READ_AT = dt.datetime(2026, 12, 1, 9, 30, 0, 125000, tzinfo=dt.UTC)
PASSWORD = "Correct-Horse-7"
VARIABLES = {
    "m": [
        Variable("energy", "Double", "Active energy import", unit_of("kWh")),
        Variable("volts", "Double", "voltage_l1", unit_of("V")),
        Variable("code", "Double", "error code", None),
        Variable("_status", "String", "status of the last readout of m"),
    ]
}


@pytest.fixture(scope="module")
def security(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate, its key and a users file with one user, made once for the module."""
    folder = tmp_path_factory.mktemp("opcua")
    der, pem = make_certificate(
        "urn:obisgate:test", ["localhost"], ["127.0.0.1"], days=30, now=dt.datetime.now(dt.UTC)
    )
    (folder / "cert.der").write_bytes(der)
    (folder / "key.pem").write_bytes(pem)
    (folder / "key.pem").chmod(0o600)
    save_user(folder / "users", "scada", PASSWORD)
    return {
        "certificate": folder / "cert.der",
        "private_key": folder / "key.pem",
        "users_file": folder / "users",
        "pki": folder / "pki",
    }


@asynccontextmanager
async def server(**fields: Any) -> AsyncIterator[OpcUaOutput]:
    output = OpcUaOutput(OpcUaConfig(**fields), VARIABLES)
    await output.start()
    try:
        await output.publish(
            [
                SignalUpdate("m", "energy", 148123.456, "kWh", READ_AT, Quality.VALID),
                SignalUpdate("m", "volts", 230.5, "V", READ_AT, Quality.VALID),
                SignalUpdate("m", "_status", "ok", None, READ_AT, Quality.VALID),
            ]
        )
        yield output
    finally:
        await output.aclose()


def secured(security: dict[str, Path], listen: str = "127.0.0.1:0") -> dict[str, Any]:
    return {
        "listen": listen,
        "certificate": security["certificate"],
        "private_key": security["private_key"],
        "users_file": security["users_file"],
    }


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_a_user_reads_over_basic256sha256(mode: str, security: dict[str, Path]) -> None:
    async with server(**secured(security)) as output:
        before = dt.datetime.now(dt.UTC)
        answer = await opcua_client(
            output.endpoint,
            security["pki"],
            ["m.energy", "m.volts", "m.code", "m._status"],
            mode=mode,
            user="scada",
            password=PASSWORD,
        )
    assert {(e["mode"], e["policy"]) for e in answer["endpoints"]} == {
        ("Sign", "Basic256Sha256"),
        ("SignAndEncrypt", "Basic256Sha256"),
    }  # no None endpoint at all
    energy, volts, code, status = (
        answer["values"][n] for n in ("m.energy", "m.volts", "m.code", "m._status")
    )
    assert (energy["value"], energy["status"]) == (148123.456, "Good")
    assert energy["source"] == "2026-12-01T09:30:00.125Z"  # the reading's time
    server_time = dt.datetime.fromisoformat(energy["server"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=5) <= server_time <= dt.datetime.now(dt.UTC)
    assert energy["description"] == "Active energy import"
    assert energy["type"] == "ns=0;i=17497"  # AnalogUnitType
    assert energy["units"] == {
        "namespaceUri": "http://www.opcfoundation.org/UA/units/un/cefact",
        "unitId": 0x4B5748,  # KWH
        "displayName": "kWh",
        "description": "kilowatt hour",
    }
    assert volts["units"]["unitId"] == 0x564C54  # VLT
    assert (code["status"], code["units"], code["description"]) == (
        "BadWaitingForInitialData",
        None,
        "error code",
    )
    assert code["source"] is not None
    assert code["server"] is not None
    assert (status["value"], status["source"]) == ("ok", "2026-12-01T09:30:00.125Z")


async def test_no_credential_that_is_not_configured(
    security: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with server(**secured(security)) as output:
        for user, password in (("scada", "wrong"), ("admin", "admin"), ("scada", "")):
            answer = await opcua_client(
                output.endpoint, security["pki"], [], user=user, password=password
            )
            assert "BadUserAccessDenied" in answer["error"]
        assert output.health().counters["logins_refused_total"] == 3
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("obisgate.gateway")]
    assert len(lines) == 1  # rate-limited
    assert lines[0].startswith("opcua: refused from 127.0.0.1:")
    assert "BadUserAccessDenied" in lines[0]
    assert PASSWORD not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_user_name_over_an_unsecured_channel_is_refused_even_with_the_right_password(
    security: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncua opens an unsecured channel for any client (discovery needs one); a client
    that ignores the endpoints and logs in over it must still be refused."""
    async with server(**secured(security)) as output:
        client = asyncua.Client(output.endpoint)
        client.set_user("scada")
        client.set_password(PASSWORD)
        # Take the SignAndEncrypt endpoint's description (its user token is not encrypted
        # again) although the channel has no security: the password goes in plain text.
        encrypted = asyncua.ua.MessageSecurityMode.SignAndEncrypt
        monkeypatch.setattr(
            asyncua.Client,
            "find_endpoint",
            staticmethod(
                lambda endpoints, mode, uri: next(
                    e for e in endpoints if e.SecurityMode == encrypted
                )
            ),
        )
        with pytest.raises(asyncua.ua.UaStatusCodeError) as refused:
            await client.connect()
        with_exception = refused.value
        await client.disconnect()
        assert "BadUserAccessDenied" in type(with_exception).__name__
        assert output.logins is not None
        assert output.logins.refused == 1


async def test_an_anonymous_server_refuses_any_user_name(tmp_path: Path) -> None:
    """Loopback without users: the None policy with anonymous login only; a user name and
    password (asyncua accepts any without a user manager) are refused."""
    async with server(listen="127.0.0.1:0") as output:
        client = asyncua.Client(output.endpoint)
        endpoints = await client.connect_and_get_server_endpoints()
        assert [
            (e.SecurityPolicyUri.split("#")[-1], [t.TokenType.name for t in e.UserIdentityTokens])
            for e in endpoints
        ] == [("None", ["Anonymous"])]
        client = asyncua.Client(output.endpoint)
        client.set_user("anyone")
        client.set_password("anything")
        with pytest.raises(asyncua.ua.UaStatusCodeError) as refused:
            await client.connect()
        await client.disconnect()
        assert "BadIdentityTokenRejected" in type(refused.value).__name__
        async with asyncua.Client(output.endpoint) as anonymous:
            index = await anonymous.get_namespace_index("urn:obisgate")
            node = anonymous.get_node(asyncua.ua.NodeId("m.volts", index))
            value = await node.read_data_value()
            assert value.Value.Value == 230.5
            assert value.SourceTimestamp == READ_AT
            assert value.ServerTimestamp is not None


async def test_anonymous_only_on_loopback(security: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="reachable from other machines: give certificate"):
        OpcUaConfig(listen="0.0.0.0:4840")
    with pytest.raises(ValueError, match="users_file needs certificate and private_key"):
        OpcUaConfig(listen="127.0.0.1:0", users_file=security["users_file"])
    with pytest.raises(ValueError, match="give both certificate and private_key"):
        OpcUaConfig(listen="127.0.0.1:0", certificate=security["certificate"])
    async with server(**secured(security, "0.0.0.0:0")) as output:
        endpoint = output.endpoint.replace("0.0.0.0", "127.0.0.1")
        answer = await opcua_client(endpoint, security["pki"], ["m.volts"])
        assert "session" in answer["error"]  # anonymous: refused
        assert all(e["tokens"] == ["UserName"] for e in answer["endpoints"])
        answer = await opcua_client(
            endpoint, security["pki"], ["m.volts"], user="scada", password=PASSWORD
        )
        assert answer["values"]["m.volts"]["value"] == 230.5


async def test_a_peers_junk_is_one_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="obisgate")
    async with server(listen="127.0.0.1:0") as output:
        assert output.port is not None
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", output.port)
            writer.write(b"XYZF" + struct.pack("<I", 16) + bytes(8))
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            del reader
        async with asyncua.Client(output.endpoint) as client:  # others are served
            assert await client.get_namespace_index("urn:obisgate") > 0
        assert output.peer_errors.total == 10
    lines = [r for r in caplog.records if r.name.startswith("obisgate.gateway")]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert message.startswith("opcua: refused from 127.0.0.1:")
    assert "Unsupported message type b'XYZ'" in message
    assert [r for r in caplog.records if r.exc_info] == []


def test_users_file_problems_name_the_line(tmp_path: Path) -> None:

    path = tmp_path / "users"
    save_user(path, "scada", PASSWORD)
    assert os.stat(path).st_mode & 0o777 == 0o600
    stored = load_users(path)["scada"]
    assert stored.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in path.read_text()
    assert verify_password(PASSWORD, stored)
    assert not verify_password("wrong", stored)
    save_user(path, "other", "x")
    save_user(path, "scada", None)
    assert list(load_users(path)) == ["other"]
    path.write_text("# comment\n\nscada:plain\n")
    with pytest.raises(ConfigError, match="line 3: expected scrypt"):
        load_users(path)
    path.write_text("scada\n")
    with pytest.raises(ConfigError, match="line 1: expected NAME:HASH"):
        load_users(path)
    path.write_text(f"a:{stored}\na:{stored}\n")
    with pytest.raises(ConfigError, match="line 2: a is given twice"):
        load_users(path)
    with pytest.raises(ConfigError, match="user name 'a b'"):
        save_user(path, "a b", "x")
