"""HDLC + A-XDR decoding: obisgate against dlms-cosem and gurux-dlms on the same frames.

Run:  .venv/bin/python bench/bench_dlms.py [--repeat 200] [--rows 96]

The frames are what a meter sends for a GET of (a) a load profile buffer of
``--rows`` intervals (clock + two registers per row) and (b) the association
object list of the ``zmd`` simulator profile, each segmented into 128-byte HDLC
information fields, exactly as obisgate's simulator sends them. Each library
does the whole receive path, from the bytes of the frames to Python values:

* obisgate: ``FrameReader.feed`` (flags, HCS, FCS) on the whole stream, the
  information fields joined, the LLC header dropped, ``decode_get_response``
  (the A-XDR ``Data`` to plain values).
* dlms-cosem 25.1 (Business Source License, a test dependency only):
  ``InformationFrame.from_bytes`` per frame (it checks HCS and FCS), the
  payloads joined, ``GetResponseNormal.from_bytes``, ``DlmsDataParser.parse``.
  It is handed the frames already cut apart (it cannot cut a stream itself).
* gurux-dlms 1.0.203 (GPL-2.0, a test dependency only): ``GXDLMSClient.getData``
  per frame with ``receiverReady`` between segments, its frame sequence check
  switched off (the frames were not produced in a session with this client).

Each result is checked against obisgate's (same number of rows / entries and the
same first row) before timing. Prints microseconds per message for each and the
ratios; the goal is obisgate faster than both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from obisgate.dlms.apdu import AttributeRequest, decode_get_response
from obisgate.dlms.client import DlmsClient, DlmsOptions
from obisgate.dlms.hdlc import FrameReader
from obisgate.dlms.reading import ASSOCIATION_OBJECT
from obisgate.dlms.server import DlmsServer, ServerSettings
from obisgate.protocol.actions import Send
from obisgate.simulator import get_profile
from obisgate.simulator.cosem_model import LOAD_PROFILE, cosem_objects


def capture_frames(rows: int) -> dict[str, list[bytes]]:
    """The server's frames for the two GETs, from an in-memory session."""
    start = datetime(2024, 3, 15)
    profile_rows = [
        (start + i * timedelta(minutes=15), (f"{i % 50 / 10:.5f}", f"{i * 3 % 50 / 10:.5f}"))
        for i in range(rows)
    ]
    objects = cosem_objects(get_profile("zmd").datasets, profile_rows=profile_rows)
    server = DlmsServer(objects, ServerSettings(max_info=128, block_size=0xFFFF, max_pdu=0xFFFF))
    client = DlmsClient(DlmsOptions())
    captured: list[bytes] = []

    def run(actions: list[Any]) -> None:
        while not client.done:
            sent = b"".join(a.data for a in actions if isinstance(a, Send))
            frames = server.receive(sent)
            captured.extend(frames)
            actions = client.receive_data(b"".join(frames))

    run(client.open())
    out: dict[str, list[bytes]] = {}
    for name, request in (
        ("profile buffer", AttributeRequest(7, LOAD_PROFILE, 2)),
        ("object list", ASSOCIATION_OBJECT),
    ):
        captured.clear()
        run(client.get([request]))
        out[name] = list(captured)
    return out


def obisgate_decode(frames: list[bytes]) -> list[Any]:
    stream = b"".join(frames)
    reader = FrameReader()
    payload = b"".join(f.info for f in reader.feed(stream))
    response = decode_get_response(payload[3:])
    value: list[Any] = response.results[0].value
    return value


def dlms_cosem_decoder() -> Callable[[list[bytes]], list[Any]] | None:
    try:
        from dlms_cosem.dlms_data import DlmsDataParser  # noqa: PLC0415
        from dlms_cosem.hdlc.frames import InformationFrame  # noqa: PLC0415
        from dlms_cosem.protocol.xdlms.get import GetResponseNormal  # noqa: PLC0415
    except ImportError:
        return None

    def decode(frames: list[bytes]) -> list[Any]:
        payload = b"".join(InformationFrame.from_bytes(f).payload for f in frames)
        response = GetResponseNormal.from_bytes(payload[3:])
        (data,) = DlmsDataParser().parse(response.data)
        return [entry.to_python() for entry in data.value]

    return decode


def gurux_decoder() -> Callable[[list[bytes]], list[Any]] | None:
    try:
        from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData  # noqa: PLC0415
        from gurux_dlms.enums import Authentication, InterfaceType  # noqa: PLC0415
    except ImportError:
        return None

    def decode(frames: list[bytes]) -> list[Any]:
        client = GXDLMSClient(
            True,
            16,
            GXDLMSClient.getServerAddress(1, 17),
            Authentication.NONE,
            None,
            InterfaceType.HDLC,
        )
        client.settings.checkFrame = lambda frame, xml: True
        reply, notify = GXReplyData(), GXReplyData()
        for frame in frames:
            client.getData(GXByteBuffer(frame), reply, notify)
            if reply.isMoreData():
                client.receiverReady(reply)
        return list(reply.value)

    return decode


def timed(fn: Callable[[list[bytes]], Any], frames: list[bytes], repeat: int) -> float:
    """Median microseconds of one call, over ``repeat`` calls in 5 rounds."""
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn(frames)
        rounds.append((time.perf_counter() - t0) / repeat * 1e6)
    return statistics.median(rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rows", type=int, default=96)
    args = parser.parse_args(argv)
    workloads = capture_frames(args.rows)
    peers = {"dlms-cosem": dlms_cosem_decoder(), "gurux-dlms": gurux_decoder()}
    print(f"{'message':<16} {'frames':>6} {'bytes':>6}  {'library':<11} {'us/msg':>9}  vs obisgate")
    for name, frames in workloads.items():
        mine = obisgate_decode(frames)
        base = timed(obisgate_decode, frames, args.repeat)
        size = sum(map(len, frames))
        print(f"{name:<16} {len(frames):>6} {size:>6}  {'obisgate':<11} {base:>9.1f}  1.00x")
        for peer, decode in peers.items():
            if decode is None:
                print(f"{'':<31}{peer:<11} {'not installed':>9}")
                continue
            theirs = decode(frames)
            if len(theirs) != len(mine):
                print(
                    f"{peer}: decoded {len(theirs)} entries, obisgate {len(mine)}", file=sys.stderr
                )
                return 1
            took = timed(decode, frames, max(args.repeat // 10, 5))
            print(f"{'':<31}{peer:<11} {took:>9.1f}  {took / base:.2f}x slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
