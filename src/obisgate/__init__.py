"""obisgate: read, simulate and poll IEC 62056-21 (IEC 61107, optical port / D0) meters."""

from __future__ import annotations

from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.cosem import Obis, parse_obis
from obisgate.dlms.reading import ObjectSpec
from obisgate.dlms_session import DlmsReadResult, read_dlms, read_dlms_on
from obisgate.errors import (
    AccessDeniedError,
    ApduError,
    ChecksumError,
    CommandRejectedError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    DlmsServiceError,
    FramingError,
    HdlcFrameError,
    MeterError,
    NoAnswerError,
    ObisgateError,
    ProtocolError,
    SessionEndedError,
    TotalTimeoutError,
    TransportError,
    UnexpectedMessageError,
    UnsupportedOperation,
)
from obisgate.programming import ProgrammingSession, RegisterReading, read_registers
from obisgate.protocol.bcc import BccMethod, compute_bcc
from obisgate.protocol.client import ReadoutClient, ReadoutOptions, ReadResult
from obisgate.protocol.dataset import DataSet, Value, parse_data_block
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.loadprofile import LoadProfile
from obisgate.protocol.passwords import (
    ComputedPassword,
    ElsterPassword,
    NoPassword,
    PasswordScheme,
    PlainPassword,
    make_scheme,
)
from obisgate.protocol.programming import ProgrammingOptions
from obisgate.protocol.readout import BccStatus, Readout, parse_readout
from obisgate.session import Exchange, read_meter, read_meter_on, read_meter_sync
from obisgate.trace import Trace
from obisgate.transport import LineSettings, Transport, open_transport

__all__ = [
    "AccessDeniedError",
    "ApduError",
    "BccMethod",
    "BccStatus",
    "ChecksumError",
    "CommandRejectedError",
    "ComputedPassword",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "DataSet",
    "DlmsOptions",
    "DlmsReadResult",
    "DlmsServiceError",
    "ElsterPassword",
    "Exchange",
    "FramingError",
    "HdlcFrameError",
    "Identification",
    "LineSettings",
    "LoadProfile",
    "MeterError",
    "NoAnswerError",
    "NoPassword",
    "Obis",
    "ObisgateError",
    "ObjectSpec",
    "PasswordScheme",
    "PlainPassword",
    "ProgrammingOptions",
    "ProgrammingSession",
    "ProtocolError",
    "ProtocolMode",
    "ReadResult",
    "Readout",
    "ReadoutClient",
    "ReadoutOptions",
    "RegisterReading",
    "SessionEndedError",
    "TotalTimeoutError",
    "Trace",
    "Transport",
    "TransportError",
    "UnexpectedMessageError",
    "UnsupportedOperation",
    "Value",
    "compute_bcc",
    "make_scheme",
    "open_transport",
    "parse_data_block",
    "parse_obis",
    "parse_readout",
    "read_dlms",
    "read_dlms_on",
    "read_meter",
    "read_meter_on",
    "read_meter_sync",
    "read_registers",
]
