"""A reader built on the Gurux DLMS client (GPL-2.0, a test peer only): blocking, over TCP.

It does what Gurux's own example reader does: SNRM/UA, AARQ/AARE, the object
list, then value and scaler_unit of every register, release, disconnect, each
request answered through ``getData`` / ``receiverReady``. For mode E the
IEC 62056-21 opening is sent by hand first, as Gurux's example does (the
library itself has no opening).
"""

from __future__ import annotations

import socket
from typing import Any

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, ObjectType


class GuruxReader:
    """One Gurux client association over a connected socket."""

    def __init__(
        self, sock: socket.socket, *, client: int = 16, logical: int = 1, physical: int = 17
    ) -> None:
        self.sock = sock
        self.client = GXDLMSClient(
            True,
            client,
            GXDLMSClient.getServerAddress(logical, physical),
            Authentication.NONE,
            None,
            InterfaceType.HDLC,
        )

    def _packet(self, data: Any, reply: GXReplyData) -> None:
        if data is not None:
            self.sock.sendall(bytes(data))
        buffer = GXByteBuffer()
        notify = GXReplyData()
        while not self.client.getData(buffer, reply, notify):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the simulator closed the connection")
            buffer.set(chunk)

    def _block(self, data: Any, reply: GXReplyData) -> None:
        if isinstance(data, list):
            for item in data:
                reply.clear()
                self._block(item, reply)
            return
        self._packet(data, reply)
        while reply.isMoreData():
            self._packet(self.client.receiverReady(reply), reply)

    def connect(self) -> None:
        reply = GXReplyData()
        self._packet(self.client.snrmRequest(), reply)
        self.client.parseUAResponse(reply.data)
        reply.clear()
        self._block(self.client.aarqRequest(), reply)
        self.client.parseAareResponse(reply.data)

    def read(self, obj: Any, attribute: int) -> Any:
        reply = GXReplyData()
        self._block(self.client.read(obj, attribute), reply)
        return self.client.updateValue(obj, attribute, reply.value)

    def objects(self) -> Any:
        reply = GXReplyData()
        self._block(self.client.getObjectsRequest(), reply)
        return self.client.parseObjects(reply.data, True)

    def close(self) -> None:
        reply = GXReplyData()
        self._block(self.client.releaseRequest(), reply)
        reply.clear()
        self._packet(self.client.disconnectRequest(), reply)


def read_registers(host: str, port: int, *, opening: bytes | None = None) -> dict[str, Any]:
    """Every register's scaled value and unit, and every data object's value, by OBIS code."""
    with socket.create_connection((host, port), timeout=5) as sock:
        if opening is not None:
            _mode_e_opening(sock, opening)
        reader = GuruxReader(sock)
        reader.connect()
        values: dict[str, Any] = {}
        for obj in reader.objects():
            if obj.objectType == ObjectType.REGISTER:
                reader.read(obj, 3)
                reader.read(obj, 2)
                values[obj.logicalName] = (obj.value, int(obj.unit))
            elif obj.objectType == ObjectType.DATA:
                reader.read(obj, 2)
                values[obj.logicalName] = (obj.value, None)
        reader.close()
    return values


def _mode_e_opening(sock: socket.socket, request: bytes) -> None:
    """``/?ADDR!`` -> identification -> ``ACK 2 Z 2`` -> the meter's confirmation."""
    sock.sendall(request)
    ident = _line(sock)
    z = chr(ident[4])
    option = b"\x06" + f"2{z}2".encode() + b"\r\n"
    sock.sendall(option)
    confirm = _line(sock)
    if bytes(b & 0x7F for b in confirm) != option:
        raise ConnectionError(f"no mode E confirmation: {confirm!r}")


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the opening")
        data += chunk
    return data
