"""Property tests: nothing but the project's errors escapes the DLMS core, whole or byte by byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from obisgate.dlms.apdu import AttributeRequest
from obisgate.dlms.client import DlmsClient, DlmsOptions
from obisgate.dlms.cosem import Obis
from obisgate.dlms.hdlc import (
    Frame,
    FrameKind,
    FrameReader,
    client_address,
    control_i,
    control_u,
    server_address,
)
from obisgate.dlms.server import DlmsServer
from obisgate.errors import MeterError, NoAnswerError, ProtocolError
from tests.dlms.test_client import OBJECTS
from tests.helpers import bytewise
from tests.strategies import chunked

ME, SERVER = client_address(16), server_address(1, 17)
UA = Frame(ME, SERVER, control_u(FrameKind.UA)).encode()
AARE = Frame(
    ME,
    SERVER,
    control_i(0, 1),
    bytes.fromhex(
        "E6E7006129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000721404000007"
    ),
).encode()


def _frames_from(payloads: list[bytes], seq: int) -> bytes:
    return b"".join(
        Frame(ME, SERVER, control_i(seq + i, seq + 1 + i), b"\xe6\xe7\x00" + p).encode()
        for i, p in enumerate(payloads)
    )


# Streams that look like frames to this client: random APDUs inside valid frames,
# random bytes, and valid frames cut or glued to junk.
apdu_streams = st.lists(
    st.one_of(
        st.binary(max_size=60),
        st.binary(max_size=40).map(lambda b: b"\xc4\x01\xc1" + b),
        st.binary(max_size=40).map(lambda b: b"\xc4\x02\xc1" + b),
        st.binary(max_size=40).map(lambda b: b"\xc4\x03\xc1" + b),
        st.binary(max_size=40).map(lambda b: b"\x61" + b),
    ),
    max_size=3,
).map(lambda ps: _frames_from(ps, 1))
streams = st.one_of(st.binary(max_size=300), apdu_streams)


@given(st.data(), streams, st.sampled_from(["open", "get", "close"]))
def test_client_raises_only_project_errors(data: st.DataObject, stream: bytes, phase: str) -> None:
    client = DlmsClient(DlmsOptions(retries=1))
    client.open()
    if phase != "open":
        client.receive_data(UA)
        client.receive_data(AARE)
        assert client.connected
        if phase == "get":
            client.get([AttributeRequest(3, Obis(1, 0, 1, 8, 0, 255), 2)])
        else:
            client.close()
    chunks = data.draw(st.one_of(st.just([stream]), st.just(bytewise(stream)), chunked(stream)))
    try:
        for chunk in chunks:
            if client.done:
                break
            client.receive_data(chunk)
        while not client.done:
            client.timeout()
    except (ProtocolError, MeterError, NoAnswerError):
        return


@given(st.binary(max_size=400))
def test_frame_reader_never_raises(data: bytes) -> None:
    reader = FrameReader()
    reader.feed(data)
    for chunk in bytewise(data):
        FrameReader().feed(chunk)


@given(st.lists(st.binary(max_size=60), max_size=4))
def test_server_answers_anything_without_raising(payloads: list[bytes]) -> None:
    server = DlmsServer(OBJECTS)
    snrm = Frame(SERVER, ME, control_u(FrameKind.SNRM)).encode()
    assert server.receive(snrm)
    for i, payload in enumerate(payloads):
        frame = Frame(SERVER, ME, control_i(i, i), b"\xe6\xe6\x00" + payload).encode()
        server.receive(frame)
        server.receive(payload)
