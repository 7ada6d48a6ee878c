"""obisgate: read, simulate and poll IEC 62056-21 (IEC 61107, optical port / D0) meters."""

from __future__ import annotations

from obisgate.errors import (
    AccessDeniedError,
    ChecksumError,
    CommandRejectedError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    FramingError,
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
    read_registers,
    read_registers_on,
)
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
    "BccMethod",
    "BccStatus",
    "ChecksumError",
    "CommandRejectedError",
    "ComputedPassword",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "DataSet",
    "ElsterPassword",
    "Exchange",
    "FramingError",
    "Identification",
    "LineSettings",
    "LoadProfile",
    "MeterError",
    "NoAnswerError",
    "NoPassword",
    "ObisgateError",
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
    "load_recipes",
    "make_scheme",
    "open_transport",
    "parse_data_block",
    "parse_readout",
    "read_meter",
    "read_meter_on",
    "read_meter_sync",
    "read_registers",
    "read_registers_on",
]
