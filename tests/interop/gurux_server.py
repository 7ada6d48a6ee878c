"""A DLMS server built on Gurux's ``GXDLMSServer`` (GPL-2.0, a test peer only), over TCP.

``GXDLMSServer`` 1.0.203 does not run as shipped; this harness subclasses it
and patches what breaks, each patch named where it is made:

* ``initialize`` appends the item collection as one element of an empty
  object list (a TypeError): the list is filled before;
* every ``on...`` hook raises in the base class: they are implemented here
  (accept every client, every attribute readable, the objects as given);
* ``GXServerReply`` has no ``setReply`` nor ``getConnectionInfo``, which the
  server calls: :class:`Reply` adds them;
* ``handleSnrmRequest`` reads the HDLC parameters from a ``GXDLMSHdlcSetup``
  under attribute names it does not have: the negotiation is redone here;
* the GET handler calls ``notifyRead``, ``onPostRead()`` without arguments,
  ``getTransaction`` and ``setTransaction``, which the class does not have
  (GET-next fails without them): they are added;
* ``generateDisconnectRequest`` has the same attribute-name fault as SNRM:
  it is rewritten;
* the object list reads ``ValueEventArgs.isSkipMaxPduSize``, which is called
  ``skipMaxPduSize``: the missing name gets its default;
* GET-next reads ``settings.gbtWndowSize`` (misspelt) and calls
  ``settings.getMaxPduSize()`` (missing): both are provided; and it iterates
  over the long transaction's targets, which a normal GET stored as one
  event: ``setTransaction`` wraps it in a list;
* ``handleRequest`` turns a ``timedelta`` into ``int`` for the HDLC inactivity
  check (a TypeError): the inactivity timeout is set to 0;
* ``handleReleaseRequest`` writes the RLRE in front of the LLC bytes instead
  of after them: the RLRE is rebuilt here, ``E6 E7 00 63 03 80 01 00``.

Each accepted connection is one line carrying this one server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gurux_dlms import GXDLMS, GXDLMSServer, GXServerReply, ValueEventArgs
from gurux_dlms.ConnectionState import ConnectionState
from gurux_dlms.enums import (
    AccessMode,
    DataType,
    InterfaceType,
    MethodAccessMode,
    ObjectType,
    SourceDiagnostic,
    Unit,
)
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSHdlcSetup,
    GXDLMSRegister,
)

# GXDLMSAssociationLogicalName.getObjects reads ``e.isSkipMaxPduSize``; the event
# class names it ``skipMaxPduSize`` (an AttributeError on every object-list read).
ValueEventArgs.isSkipMaxPduSize = False


class Reply(GXServerReply):  # type: ignore[misc]
    """``GXServerReply`` lacks ``setReply`` and ``getConnectionInfo``, which the server calls."""

    def setReply(self, value: Any) -> None:  # noqa: N802
        self.reply = value

    def getConnectionInfo(self) -> Any:  # noqa: N802
        return self.connectionInfo


class PatchedServer(GXDLMSServer):  # type: ignore[misc]
    """``GXDLMSServer`` with its hooks implemented and its known faults patched."""

    def __init__(self, objects: list[Any], *, logical: int = 1, physical: int = 17) -> None:
        super().__init__(True, InterfaceType.HDLC)
        self.logical = logical
        self.physical = physical
        hdlc = GXDLMSHdlcSetup()
        hdlc.maximumInfoLengthReceive = 128
        hdlc.maximumInfoLengthTransmit = 128
        hdlc.windowSizeReceive = 1
        hdlc.windowSizeTransmit = 1
        # handleRequest computes int(timedelta) for the inactivity check (a TypeError
        # on every request after SNRM): the check is switched off.
        hdlc.inactivityTimeout = 0
        self.hdlc = hdlc
        # GET-next reads settings.gbtWndowSize (sic): give the misspelt name its value.
        self.settings.gbtWndowSize = 1
        # ... and calls settings.getMaxPduSize(), which does not exist.
        settings = self.settings
        settings.getMaxPduSize = lambda: settings.maxPduSize
        association = GXDLMSAssociationLogicalName()
        self.items.append(association)
        for obj in objects:
            self.items.append(obj)
        # initialize() appends the whole collection as one item of an empty object
        # list (a TypeError): fill the list first.
        for obj in self.items:
            association.objectList.append(obj)
        self.initialize()

    # -- hooks the base class leaves raising ------------------------------------

    def isTarget(self, serverAddress: int, clientAddress: int) -> bool:  # noqa: N802, N803
        return bool(
            serverAddress == (self.logical << 7) | self.physical or serverAddress == self.logical
        )

    def onValidateAuthentication(self, authentication: Any, password: Any) -> Any:  # noqa: N802
        return SourceDiagnostic.NONE

    def onGetAttributeAccess(self, arg: Any) -> Any:  # noqa: N802
        return AccessMode.READ

    def onGetMethodAccess(self, arg: Any) -> Any:  # noqa: N802
        return MethodAccessMode.NO_ACCESS

    def onFindObject(self, objectType: Any, sn: Any, ln: Any) -> Any:  # noqa: N802, N803
        return None

    def onPreRead(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPostRead(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPreGet(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPostGet(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPreWrite(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPostWrite(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPreAction(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onPostAction(self, args: Any = None) -> None:  # noqa: N802
        return None

    def onConnected(self, connectionInfo: Any) -> None:  # noqa: N802, N803
        return None

    def onInvalidConnection(self, connectionInfo: Any) -> None:  # noqa: N802, N803
        return None

    def onDisconnected(self, connectionInfo: Any) -> None:  # noqa: N802, N803
        return None

    # -- methods the command handler calls that the class does not have ------------

    def notifyRead(self, args: Any = None) -> None:  # noqa: N802
        return None

    def getTransaction(self) -> Any:  # noqa: N802
        return self.transaction

    def setTransaction(self, value: Any) -> None:  # noqa: N802
        # GET-Request-Normal stores one event where GET-next iterates over a list.
        if value is not None and not isinstance(value.targets, list | tuple):
            value.targets = [value.targets]
        self.transaction = value

    # -- patched faults -----------------------------------------------------------

    def generateDisconnectRequest(self) -> None:  # noqa: N802
        # The shipped method reads maxInfoTX from GXDLMSHdlcSetup (an AttributeError):
        # the UA to DISC carries the negotiated parameters of the settings object.
        hdlc = self.settings.hdlc
        body = bytes((0x05, 1, hdlc.maxInfoTX, 0x06, 1, hdlc.maxInfoRX))
        body += bytes.fromhex("070400000001080400000001")
        self.replyData.set(bytes((0x81, 0x80, len(body))) + body)

    def handleSnrmRequest(self, data: Any) -> None:  # noqa: N802
        # The shipped method reads maxInfoTX / windowSizeTX from the GXDLMSHdlcSetup
        # object, which has other attribute names (an exception, answered with a
        # broken I frame): negotiate on the settings object instead.
        hdlc = self.settings.hdlc
        hdlc.maxInfoRX = hdlc.maxInfoTX = 128
        hdlc.windowSizeRX = hdlc.windowSizeTX = 1
        GXDLMS.parseSnrmUaResponse(data, hdlc)
        hdlc.maxInfoRX = min(hdlc.maxInfoRX, 128)
        hdlc.maxInfoTX = min(hdlc.maxInfoTX, 128)
        self.reset(True)
        body = bytes((0x05, 1, hdlc.maxInfoTX, 0x06, 1, hdlc.maxInfoRX))
        body += bytes.fromhex("070400000001080400000001")
        self.replyData.set(bytes((0x81, 0x80, len(body))) + body)
        self.settings.connected = ConnectionState.HDLC

    def handleReleaseRequest(self, data: Any) -> None:  # noqa: N802
        self.replyData.set(bytes.fromhex("E6E7006303800100"))


def registers() -> list[Any]:
    """A few objects of a typical meter: energy, voltage, a serial number, the clock."""
    energy = GXDLMSRegister("1.0.1.8.0.255")
    energy.value = 12345678
    energy.scaler = 1  # Gurux keeps the scaled factor: 10^0
    energy.unit = Unit.ACTIVE_ENERGY
    energy.setDataType(2, DataType.UINT32)
    voltage = GXDLMSRegister("1.0.32.7.0.255")
    voltage.value = 2301
    voltage.scaler = 0.1
    voltage.unit = Unit.VOLTAGE
    voltage.setDataType(2, DataType.UINT16)
    serial = GXDLMSData("0.0.96.1.0.255")
    serial.value = "GURUX0001"
    serial.setDataType(2, DataType.STRING)
    return [energy, voltage, serial, GXDLMSClock()]


async def serve(server_factory: Any) -> tuple[asyncio.Server, int]:
    """Listen on a free loopback port; each connection gets its own server object."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = server_factory()
        try:
            while data := await reader.read(4096):
                reply = Reply(data)
                server.handleRequest(reply)
                if reply.reply:
                    writer.write(bytes(reply.reply))
                    await writer.drain()
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    return listener, port


__all__ = ["ObjectType", "PatchedServer", "Reply", "registers", "serve"]
