"""The client state machine against the server state machine, in memory, and on its own.

Every path is driven through the actions the client returns: bytes it sends go
to the server (possibly altered on the way), what the server answers comes back.
Timeouts are the client's ``timeout()`` calls, never waiting.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obisgate.dlms.apdu import AttributeRequest, DataAccessResult, GetResult
from obisgate.dlms.axdr import DataType, Typed
from obisgate.dlms.client import DlmsClient, DlmsOptions
from obisgate.dlms.cosem import Obis, parse_obis
from obisgate.dlms.hdlc import (
    Frame,
    FrameKind,
    FrameReader,
    client_address,
    control_u,
    server_address,
)
from obisgate.dlms.reading import ASSOCIATION_OBJECT
from obisgate.dlms.server import CosemObject, DlmsServer, ServerSettings
from obisgate.errors import (
    AccessDeniedError,
    DlmsServiceError,
    HdlcFrameError,
    NoAnswerError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import Action, Send
from tests.helpers import bytewise

ENERGY = Obis(1, 0, 1, 8, 0, 255)
VOLTAGE = Obis(1, 0, 32, 7, 0, 255)
SCALER_WH = (Typed(DataType.INTEGER, 0), Typed(DataType.ENUM, 30))
OBJECTS = [
    CosemObject(3, ENERGY, {2: Typed(DataType.DOUBLE_LONG_UNSIGNED, 148123456), 3: SCALER_WH}),
    CosemObject(
        3,
        VOLTAGE,
        {
            2: Typed(DataType.LONG_UNSIGNED, 2301),
            3: (Typed(DataType.INTEGER, -1), Typed(DataType.ENUM, 35)),
        },
    ),
    CosemObject(1, parse_obis("0-0:96.1.0*255"), {2: "x" * 600}),
]

Tap = Callable[[bytes], bytes]


def finished(client: DlmsClient) -> bool:
    """``client.done``, read through a call (mypy narrows the property in loops)."""
    return client.done


def is_connected(client: DlmsClient) -> bool:
    """``client.connected``, read through a call (for the same reason)."""
    return client.connected


class Wire:
    """Runs a client against a server; ``to_server`` / ``to_client`` may alter the bytes."""

    def __init__(
        self,
        client: DlmsClient,
        server: DlmsServer,
        *,
        to_server: Tap = lambda b: b,
        to_client: Tap = lambda b: b,
        bytewise_delivery: bool = False,
    ) -> None:
        self.client = client
        self.server = server
        self.to_server = to_server
        self.to_client = to_client
        self.bytewise = bytewise_delivery
        self.timeouts = 0

    def run(self, actions: list[Action]) -> None:
        client = self.client
        while not client.done:
            sent = b"".join(a.data for a in actions if isinstance(a, Send))
            answer = b"".join(self.server.receive(self.to_server(sent)))
            answer = self.to_client(answer)
            if not answer:
                self.timeouts += 1
                actions = client.timeout()
                continue
            actions = []
            for chunk in bytewise(answer) if self.bytewise else [answer]:
                if finished(client):
                    break
                actions += client.receive_data(chunk)


def connect(
    options: DlmsOptions | None = None, settings: ServerSettings | None = None, **wire_args: object
) -> Wire:
    wire = Wire(DlmsClient(options), DlmsServer(OBJECTS, settings), **wire_args)  # type: ignore[arg-type]
    wire.run(wire.client.open())
    return wire


@pytest.mark.parametrize("delivery", [False, True])
def test_associate_get_release(delivery: bool) -> None:
    wire = connect(bytewise_delivery=delivery)
    client = wire.client
    assert client.connected
    assert client.supports_lists
    wire.run(client.get([AttributeRequest(3, ENERGY, 2), AttributeRequest(3, ENERGY, 3)]))
    assert client.results == [GetResult(148123456), GetResult((0, 30))]
    wire.run(client.get([AttributeRequest(3, VOLTAGE, 2)]))
    assert client.results == [GetResult(2301)]
    wire.run(client.close())
    assert client.done
    assert not is_connected(client)
    assert not wire.server.connected
    assert [entry.text.split()[0] for entry in client.log][:4] == [
        "SNRM",
        "UA",
        "I(S=0,R=0)",
        "I(S=0,R=1)",
    ]
    assert wire.timeouts == 0


def test_missing_objects_are_data_access_results() -> None:
    wire = connect()
    wire.run(
        wire.client.get(
            [
                AttributeRequest(3, parse_obis("9.9.9"), 2),
                AttributeRequest(1, ENERGY, 2),
                AttributeRequest(3, ENERGY, 9),
            ]
        )
    )
    assert [r.error for r in wire.client.results] == [
        DataAccessResult.OBJECT_UNDEFINED,
        DataAccessResult.OBJECT_CLASS_INCONSISTENT,
        DataAccessResult.READ_WRITE_DENIED,
    ]


def test_long_answers_come_in_segments_and_blocks() -> None:
    settings = ServerSettings(max_info=32, block_size=64)
    wire = connect(settings=settings)
    wire.run(wire.client.get([AttributeRequest(1, parse_obis("0-0:96.1.0*255"), 2)]))
    assert wire.client.results == [GetResult("x" * 600)]
    segments = [e for e in wire.client.log if "segment" in e.text]
    assert len(segments) > 10
    wire.run(wire.client.get([ASSOCIATION_OBJECT]))
    listed = wire.client.results[0].value
    assert [entry[2] for entry in listed][1:] == [o.obis.to_bytes() for o in OBJECTS]


def test_long_requests_are_sent_in_segments() -> None:
    # An LLS AARQ of 90+ bytes into a server whose information field is 32 bytes.
    password = b"p" * 40
    wire = connect(
        DlmsOptions(client=1, password=password),
        ServerSettings(max_info=32, passwords={1: password}),
    )
    sent_segments = [e for e in wire.client.log if e.direction == ">" and "segment" in e.text]
    assert len(sent_segments) >= 2
    assert wire.client.connected


def test_wrong_password_is_access_denied() -> None:
    with pytest.raises(AccessDeniedError, match="authentication failure"):
        connect(DlmsOptions(client=1, password=b"wrong"))
    with pytest.raises(AccessDeniedError, match="authentication required"):
        connect(DlmsOptions(client=1))


def test_password_is_masked_in_the_log_and_the_send_action() -> None:
    client = DlmsClient(DlmsOptions(client=1, password=b"SECRET99"))
    ua = Frame(client_address(1), server_address(1, 17), control_u(FrameKind.UA)).encode()
    client.open()
    actions = client.receive_data(ua)
    (send,) = actions
    assert isinstance(send, Send)
    assert b"SECRET99" in send.data
    assert b"SECRET99" not in send.printable
    assert b"********" in send.printable
    assert all(b"SECRET99" not in e.data for e in client.log)


def test_echo_of_every_frame_is_skipped() -> None:
    wire = connect(to_client=lambda b: b)
    echoing = Wire(DlmsClient(), DlmsServer(OBJECTS))
    last: list[bytes] = []

    def remember(data: bytes) -> bytes:
        last[:] = [data]
        return data

    echoing.to_server = remember
    echoing.to_client = lambda answer: last[0] + answer  # the head echoes what we sent
    echoing.run(echoing.client.open())
    echoing.run(echoing.client.get([AttributeRequest(3, ENERGY, 2)]))
    assert echoing.client.results == [GetResult(148123456)]
    assert wire.client.connected


def test_lost_ua_is_repaired_by_retransmission() -> None:
    wire = connect(settings=ServerSettings(lose_first_ua=True))
    assert wire.client.connected
    assert wire.timeouts == 1
    assert [e.text for e in wire.client.log if e.direction == ">"][:2] == [
        "SNRM 21 bytes",
        "retransmitted",
    ]


def test_silence_is_no_answer_naming_the_addresses() -> None:
    client = DlmsClient(DlmsOptions(retries=2, physical=99))
    wire = Wire(client, DlmsServer(OBJECTS))
    with pytest.raises(NoAnswerError, match=r"UA to SNRM.*3 attempts.*physical 99"):
        wire.run(client.open())
    with pytest.raises(RuntimeError):
        client.receive_data(b"x")


def test_only_bad_frames_is_a_framing_error() -> None:
    def corrupt(data: bytes) -> bytes:
        return data[:-3] + bytes((data[-3] ^ 1,)) + data[-2:] if data else data

    client = DlmsClient(DlmsOptions(retries=1))
    wire = Wire(client, DlmsServer(OBJECTS), to_client=corrupt)
    with pytest.raises(HdlcFrameError, match="wrong check sequence"):
        wire.run(client.open())


def test_a_mode_c_readout_instead_of_frames_is_named() -> None:
    client = DlmsClient(DlmsOptions(retries=0))
    client.open()
    client.receive_data(b"\x021.8.0(001234.120*kWh)\r\n!\r\n\x03C")
    with pytest.raises(UnexpectedMessageError, match="mode C readout"):
        client.timeout()


def test_dm_and_frmr_are_framing_errors() -> None:
    me, server = client_address(16), server_address(1, 17)
    for kind in (FrameKind.DM, FrameKind.FRMR):
        client = DlmsClient()
        client.open()
        with pytest.raises(HdlcFrameError, match=r"DM|FRMR"):
            client.receive_data(Frame(me, server, control_u(kind)).encode())


def test_exception_response_is_a_service_error() -> None:
    wire = connect()
    client = wire.client
    client.get([AttributeRequest(3, ENERGY, 2)])
    from obisgate.dlms.hdlc import control_i  # noqa: PLC0415

    reply = Frame(
        client_address(16), server_address(1, 17), control_i(1, 2), b"\xe6\xe7\x00\xd8\x01\x02"
    )
    with pytest.raises(DlmsServiceError, match="service-not-supported"):
        client.receive_data(reply.encode())


def test_release_and_disconnect_end_quietly_when_the_meter_is_silent() -> None:
    wire = connect()
    client = wire.client
    actions = client.close()
    for _ in range(10):
        if client.done:
            break
        actions = client.timeout()
    assert client.done
    assert not client.connected
    assert actions == []


def test_frames_of_another_station_are_ignored() -> None:
    client = DlmsClient()
    client.open()
    other = Frame(client_address(16), server_address(1, 18), control_u(FrameKind.UA)).encode()
    assert client.receive_data(other) == []
    assert not client.done
    assert FrameReader().feed(other)


def test_a_busy_meter_is_polled_with_rr_until_it_answers() -> None:
    # The meter answers the AARQ and the GET with RNR, then RNR to two RR polls each.
    wire = connect(settings=ServerSettings(busy_polls=3))
    assert wire.client.connected
    assert wire.timeouts == 3
    wire.run(wire.client.get([AttributeRequest(3, ENERGY, 2)]))
    assert wire.client.results == [GetResult(148123456)]
    assert wire.timeouts == 6
    received = [e.text.split()[0] for e in wire.client.log if e.direction == "<"]
    assert received.count("RNR(R=1)") == 3  # to the AARQ and both polls after it
    polls = [e for e in wire.client.log if e.text.startswith("RR poll")]
    assert len(polls) == 6
    # RR with the poll bit, N(R) = 0: the client has received no I frame yet.
    (frame,) = FrameReader().feed(polls[0].data)
    assert frame.control == 0x11


def test_a_meter_busy_for_longer_than_allowed_is_a_frame_error() -> None:
    with pytest.raises(HdlcFrameError, match=r"stayed busy: RNR .* 3 times in a row"):
        connect(DlmsOptions(busy_polls=2), ServerSettings(busy_polls=5))
