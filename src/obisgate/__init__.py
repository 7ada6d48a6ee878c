"""obisgate: read, simulate and poll IEC 62056-21 (IEC 61107, optical port / D0) meters."""

from __future__ import annotations

from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.cosem import Obis, parse_obis
from obisgate.dlms.reading import ObjectSpec, data_access_error
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
from obisgate.password_config import make_scheme
from obisgate.programming_session import (
    ProgrammingSession,
    RegisterReading,
    read_load_profile_on,
    read_registers,
    read_registers_on,
)
from obisgate.protocol.bcc import BccMethod, compute_bcc
from obisgate.protocol.client import ReadoutClient, ReadoutOptions, ReadResult
from obisgate.protocol.dataset import DataSet, Value, parse_data_block
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.loadprofile import Channel, LoadProfile, ProfileRow
from obisgate.protocol.passwords import (
    ComputedPassword,
    ElsterPassword,
    NoPassword,
    PasswordScheme,
    PlainPassword,
)
from obisgate.protocol.programming_client import ProgrammingOptions
from obisgate.protocol.readout import BccStatus, Readout, parse_readout
from obisgate.protocol.recipes import Recipe, RecipeRules
from obisgate.protocol.telegrams import TelegramSplitter
from obisgate.recipes import RecipeBook, load_recipes
from obisgate.session import Exchange, read_meter, read_meter_on, read_meter_sync
from obisgate.trace import Trace
from obisgate.transport import LineSettings, ScriptedTransport, Transport, open_transport

__all__ = [
    "AccessDeniedError",
    "ApduError",
    "BccMethod",
    "BccStatus",
    "Channel",
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
    "ProfileRow",
    "ProgrammingOptions",
    "ProgrammingSession",
    "ProtocolError",
    "ProtocolMode",
    "ReadResult",
    "Readout",
    "ReadoutClient",
    "ReadoutOptions",
    "Recipe",
    "RecipeBook",
    "RecipeRules",
    "RegisterReading",
    "ScriptedTransport",
    "SessionEndedError",
    "TelegramSplitter",
    "TotalTimeoutError",
    "Trace",
    "Transport",
    "TransportError",
    "UnexpectedMessageError",
    "UnsupportedOperation",
    "Value",
    "compute_bcc",
    "data_access_error",
    "load_recipes",
    "make_scheme",
    "open_transport",
    "parse_data_block",
    "parse_obis",
    "parse_readout",
    "read_dlms",
    "read_dlms_on",
    "read_load_profile_on",
    "read_meter",
    "read_meter_on",
    "read_meter_sync",
    "read_registers",
    "read_registers_on",
]
