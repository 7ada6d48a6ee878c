"""Helpers shared by the tests: reference checksums, framing, 7E1, feeding bytes.

The reference functions here are written independently of the code under test
(straight from the protocol summary, docs/iec62056-21.md §3.9 and §1.3), so that
the tests compare two implementations instead of one with itself.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Sequence

from obisgate.protocol.actions import Action
from obisgate.protocol.client import ReadoutClient

STX = b"\x02"
ETX = b"\x03"
EOT = b"\x04"
ACK = b"\x06"
NAK = b"\x15"
CRLF = b"\r\n"


def ref_bcc_xor(block: bytes) -> int:
    """The standard's BCC: XOR of the 7 data bits of every byte."""
    x = 0
    for b in block:
        x ^= b & 0x7F
    return x


def ref_bcc_sum7(block: bytes) -> int:
    """The GOST variant: sum of the bytes modulo 128."""
    return sum(block) & 0x7F


def frame(text: str | bytes, *, method: str = "xor", terminator: bytes = ETX) -> bytes:
    """``STX text ETX BCC``: ``text`` must already hold ``! CR LF`` if wanted."""
    body = text.encode("latin-1") if isinstance(text, str) else text
    block = body + terminator
    bcc = ref_bcc_sum7(block) if method == "sum7" else ref_bcc_xor(block)
    return STX + block + bytes((bcc,))


def readout_frame(lines: Sequence[str], *, method: str = "xor") -> bytes:
    """A standard readout: each line + CR LF, then ``! CR LF``, framed with its BCC."""
    return frame("".join(line + "\r\n" for line in lines) + "!\r\n", method=method)


def to_7e1(data: bytes) -> bytes:
    """7E1 characters as an 8N1 link delivers them: even parity in bit 7."""
    return bytes(b | ((bin(b).count("1") & 1) << 7) for b in data)


def all_bit7(data: bytes) -> bytes:
    """Every byte with bit 7 set (the worst case for a receiver that forgets to mask)."""
    return bytes(b | 0x80 for b in data)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (duplicates and out-of-range ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def bytewise(data: bytes) -> list[bytes]:
    """One byte per chunk."""
    return [data[i : i + 1] for i in range(len(data))]


def random_chunks(data: bytes, seed: int, max_size: int = 7) -> list[bytes]:
    """Deterministic random chunking (sizes 1..max_size)."""
    rng = random.Random(seed)
    chunks = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max_size)
        chunks.append(data[i : i + n])
        i += n
    return chunks


def chunkings(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """The standard set of ways to deliver ``data``: whole, bytewise, random cuts."""
    yield "whole", [data]
    yield "bytewise", bytewise(data)
    for seed in range(3):
        yield f"random{seed}", random_chunks(data, seed)


def feed(client: ReadoutClient, chunks: Iterable[bytes]) -> tuple[list[Action], bytes]:
    """Pass chunks to ``client`` until it is done.

    Returns:
        The actions the client asked for (in order), and the bytes that were
        not passed because the client was already done.
    """
    actions: list[Action] = []
    left = list(chunks)
    while left and not client.done:
        actions += client.receive_data(left.pop(0))
    return actions, b"".join(left)


def feed_bytes(client: ReadoutClient, data: bytes, chunking: str = "whole") -> list[Action]:
    """Feed ``data`` whole or one byte at a time; every byte must be consumed."""
    chunks = [data] if chunking == "whole" else bytewise(data)
    actions, rest = feed(client, chunks)
    assert rest == b"", f"client finished early, {len(rest)} bytes not consumed"
    return actions
