"""Whole exchanges replayed from hex transcripts in ``vectors/``, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate.protocol.actions import Send
from obisgate.protocol.client import ReadoutClient
from obisgate.protocol.readout import BccStatus
from tests.helpers import bytewise, random_chunks

VECTORS = Path(__file__).parent / "vectors"


def load(path: Path) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Read ``> hex`` / ``< hex`` steps (continued on indented lines) and ``=`` facts."""
    steps: list[tuple[str, bytes]] = []
    expected: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("="):
            words = line[1:].split()
            expected.update(zip(words[::2], words[1::2], strict=True))
        elif line[0] in "<>":
            steps.append((line[0], bytes.fromhex(line[1:])))
        else:
            direction, data = steps[-1]
            steps[-1] = (direction, data + bytes.fromhex(line))
    return steps, expected


TRANSCRIPTS = sorted(VECTORS.glob("*.hex"))


def test_transcripts_exist() -> None:
    assert {p.name for p in TRANSCRIPTS} >= {
        "mode_c_10_1.hex",
        "mode_c_nak_repeat.hex",
        "mode_a_kamstrup_echo.hex",
    }


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("chunking", ["whole", "bytewise", "random"])
def test_replay(path: Path, chunking: str) -> None:
    steps, expected = load(path)
    client = ReadoutClient()
    sent = [a.data for a in client.start() if isinstance(a, Send)]
    for direction, data in steps:
        if direction == ">":
            assert sent.pop(0) == data
            continue
        assert not client.done
        if chunking == "whole":
            chunks = [data]
        elif chunking == "bytewise":
            chunks = bytewise(data)
        else:
            chunks = random_chunks(data, len(data))
        for chunk in chunks:
            sent += [a.data for a in client.receive_data(chunk) if isinstance(a, Send)]
    assert sent == []  # the client sent nothing the transcript does not show
    assert client.done
    result = client.result
    assert result is not None
    assert result.baud == int(expected["baud"])
    assert result.mode.value == expected["mode"]
    assert len(result.readout.datasets) == int(expected["datasets"])
    assert result.readout.bcc is BccStatus(expected["bcc"])
    assert result.readout.unparsed == ()
