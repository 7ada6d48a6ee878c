"""DLMS/COSEM APDUs: association (AARQ/AARE, RLRQ/RLRE) and xDLMS GET, both sides.

Logical-name referencing, no ciphering; authentication none (the public
client) or low-level security (LLS: a password in the AARQ). The ACSE APDUs
are BER (IEC 62056-5-3 clause 8 / ISO 8650), the xDLMS ones A-XDR::

    AARQ  60 L  A1 09 06 07 60 85 74 05 08 01 01     application context LN, no ciphering
                [8A 02 07 80  8B 07 60 85 74 05 08 02 01  AC L 80 L password]   LLS
                BE L 04 L  01 00 00 00 06 5F 1F 04 00 cc cc cc mm mm        xDLMS-Initiate.request
    AARE  61 L  A1 ..  A2 03 02 01 result  A3 05 A1|A2 03 02 01 diagnostic
                BE L 04 L  08 00 06 5F 1F 04 00 cc cc cc mm mm 00 07        xDLMS-Initiate.response
    GET   C0 01 iip  class(2) OBIS(6) attr(1) 00|01 selector data           normal
          C0 02 iip  block(4)                                               next data block
          C0 03 iip  n  [class OBIS attr selection]...                      with list
          C4 01 iip  00 data | 01 data-access-result
          C4 02 iip  last(1) block(4) 00 raw-data | 01 data-access-result
          C4 03 iip  n  [00 data | 01 data-access-result]...

Every decoder raises :class:`~obisgate.errors.ApduError` on malformed input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, Final

from obisgate.dlms.axdr import decode_data, decode_length, encode_data, encode_length
from obisgate.dlms.cosem import Obis
from obisgate.errors import ApduError

__all__ = [
    "AARE_TAG",
    "AARQ_TAG",
    "CLIENT_CONFORMANCE",
    "Aare",
    "Aarq",
    "AssociationResult",
    "AttributeRequest",
    "Conformance",
    "DataAccessResult",
    "GetRequest",
    "GetResponse",
    "GetResult",
    "apdu_name",
    "decode_aare",
    "decode_aarq",
    "decode_get_request",
    "decode_get_response",
    "encode_aare",
    "encode_aarq",
    "encode_get_list",
    "encode_get_next",
    "encode_get_normal",
    "encode_get_response_block",
    "encode_get_response_list",
    "encode_get_response_normal",
    "encode_rlre",
    "encode_rlrq",
    "service_error_text",
]

AARQ_TAG: Final = 0x60
AARE_TAG: Final = 0x61
RLRQ_TAG: Final = 0x62
RLRE_TAG: Final = 0x63
GET_REQUEST_TAG: Final = 0xC0
GET_RESPONSE_TAG: Final = 0xC4
EXCEPTION_RESPONSE_TAG: Final = 0xD8
CONFIRMED_SERVICE_ERROR_TAG: Final = 0x0E

#: joint-iso-ccitt(2) country(16) country-name(756) identified-organization(5)
#: DLMS-UA(8) application-context(1) context-id: 1 = LN, no ciphering.
_CONTEXT_LN: Final = bytes.fromhex("60857405080101")
_CONTEXT_SN: Final = bytes.fromhex("60857405080102")
#: ... authentication-mechanism-name(2) 1 = low level security.
_MECHANISM_LLS: Final = bytes.fromhex("60857405080201")
_DLMS_VERSION: Final = 6
#: invoke-id 1, service class confirmed, priority high.
INVOKE_ID_AND_PRIORITY: Final = 0xC1


class Conformance(IntFlag):
    """The 24-bit conformance block; bit n of the standard is ``1 << (23 - n)``."""

    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    ATTRIBUTE0_SET = 1 << 15
    PRIORITY_MGMT = 1 << 14
    ATTRIBUTE0_GET = 1 << 13
    BLOCK_TRANSFER_GET = 1 << 12
    BLOCK_TRANSFER_SET = 1 << 11
    BLOCK_TRANSFER_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0


#: What obisgate proposes: GET with blocks, lists and selective access.
CLIENT_CONFORMANCE: Final = (
    Conformance.GET
    | Conformance.BLOCK_TRANSFER_GET
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.SELECTIVE_ACCESS
    | Conformance.ATTRIBUTE0_GET
    | Conformance.PRIORITY_MGMT
)


class AssociationResult(IntEnum):
    """The AARE result."""

    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


#: acse-service-user diagnostics worth naming.
_USER_DIAGNOSTICS: Final[dict[int, str]] = {
    0: "null",
    1: "no reason given",
    2: "application context name not supported",
    11: "authentication mechanism name not recognised",
    12: "authentication mechanism name required",
    13: "authentication failure (wrong password)",
    14: "authentication required",
}


class DataAccessResult(IntEnum):
    """Why a meter could not give an attribute (``Data-Access-Result``)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250

    @classmethod
    def of(cls, code: int) -> DataAccessResult | int:
        """The member for ``code``, or ``code`` itself when the standard names none."""
        try:
            return cls(code)
        except ValueError:
            return code

    @staticmethod
    def text(code: int) -> str:
        """``object-undefined`` style name of ``code`` (``result 77`` when unknown)."""
        member = DataAccessResult.of(code)
        if isinstance(member, DataAccessResult):
            return member.name.lower().replace("_", "-")
        return f"result {code}"


_STATE_ERRORS: Final = {1: "service-not-allowed", 2: "service-unknown"}
_SERVICE_ERRORS: Final = {
    1: "operation-not-possible",
    2: "service-not-supported",
    3: "other-reason",
    4: "pdu-too-long",
    5: "deciphering-error",
    6: "invocation-counter-error",
}


def service_error_text(apdu: bytes) -> str | None:
    """What an exception-response or confirmed-service-error says, or ``None`` if it is neither."""
    if len(apdu) >= 3 and apdu[0] == EXCEPTION_RESPONSE_TAG:
        state = _STATE_ERRORS.get(apdu[1], f"state-error {apdu[1]}")
        service = _SERVICE_ERRORS.get(apdu[2], f"service-error {apdu[2]}")
        return f"exception response: {state}, {service}"
    if len(apdu) >= 4 and apdu[0] == CONFIRMED_SERVICE_ERROR_TAG:
        return f"confirmed service error (service {apdu[1]}, error {apdu[2]}/{apdu[3]})"
    return None


def apdu_name(apdu: bytes) -> str:
    """A short name of an APDU for traces and errors (``AARE``, ``GET-Response`` ...)."""
    if not apdu:
        return "empty APDU"
    names = {
        AARQ_TAG: "AARQ",
        AARE_TAG: "AARE",
        RLRQ_TAG: "RLRQ",
        RLRE_TAG: "RLRE",
        GET_REQUEST_TAG: "GET-Request",
        GET_RESPONSE_TAG: "GET-Response",
        EXCEPTION_RESPONSE_TAG: "Exception-Response",
        CONFIRMED_SERVICE_ERROR_TAG: "Confirmed-Service-Error",
    }
    return names.get(apdu[0], f"APDU 0x{apdu[0]:02X}")


# -- BER helpers -------------------------------------------------------------------


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(value)) + value


def _read_tlvs(data: bytes, pos: int, end: int) -> dict[int, bytes]:
    """The TLVs in ``data[pos:end]`` by tag (the last one wins).

    Raises:
        ApduError: a length running past ``end``.
    """
    items: dict[int, bytes] = {}
    while pos < end:
        tag = data[pos]
        length, pos = decode_length(data, pos + 1)
        if pos + length > end:
            raise ApduError(f"BER element 0x{tag:02X} runs past the APDU")
        items[tag] = data[pos : pos + length]
        pos += length
    return items


def _outer(data: bytes, tag: int, name: str) -> dict[int, bytes]:
    if not data or data[0] != tag:
        raise ApduError(f"expected an {name}, got {apdu_name(data)}")
    length, pos = decode_length(data, 1)
    if pos + length > len(data):
        raise ApduError(f"{name} cut short")
    return _read_tlvs(data, pos, pos + length)


def _conformance_bytes(conformance: int) -> bytes:
    return b"\x5f\x1f\x04\x00" + (conformance & 0xFFFFFF).to_bytes(3, "big")


def _read_conformance(data: bytes, pos: int) -> tuple[int, int]:
    if data[pos : pos + 3] != b"\x5f\x1f\x04" or len(data) < pos + 7:
        raise ApduError("conformance block missing or malformed")
    return int.from_bytes(data[pos + 4 : pos + 7], "big"), pos + 7


def _skip_optional(data: bytes, pos: int, *, sized: bool) -> int:
    """Skip an OPTIONAL element: ``00`` absent, or ``01`` + (length +) value."""
    flag = data[pos]
    if flag == 0:
        return pos + 1
    if flag != 1:
        raise ApduError(f"bad OPTIONAL flag 0x{flag:02X}")
    if sized:
        length, pos = decode_length(data, pos + 1)
        return pos + length
    return pos + 2


# -- association --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aarq:
    """What an AARQ asks for (the server side reads it).

    Attributes:
        logical_names: the application context is LN referencing.
        lls: low-level security was requested.
        password: the LLS password (``b""`` without LLS).
        conformance: the proposed conformance block.
        max_pdu: the client's largest receivable APDU.
        ciphered: a dedicated key was sent (obisgate's server refuses it).
    """

    logical_names: bool
    lls: bool
    password: bytes
    conformance: int
    max_pdu: int
    ciphered: bool = False


def encode_aarq(
    *, password: bytes | None = None, conformance: int = CLIENT_CONFORMANCE, max_pdu: int = 0xFFFF
) -> bytes:
    """An AARQ for logical-name referencing, public (``password`` ``None``) or LLS."""
    body = _tlv(0xA1, _tlv(0x06, _CONTEXT_LN))
    if password is not None:
        body += (
            bytes.fromhex("8A020780")
            + _tlv(0x8B, _MECHANISM_LLS)
            + _tlv(0xAC, _tlv(0x80, password))
        )
    initiate = (
        bytes((0x01, 0x00, 0x00, 0x00, _DLMS_VERSION))
        + _conformance_bytes(conformance)
        + max_pdu.to_bytes(2, "big")
    )
    body += _tlv(0xBE, _tlv(0x04, initiate))
    return _tlv(AARQ_TAG, body)


def password_span(aarq: bytes) -> tuple[int, int] | None:
    """Where the LLS password lies in an encoded AARQ (for masking traces), or ``None``."""
    try:
        length, pos = decode_length(aarq, 1)
        end = pos + length
        while pos < end:
            tag = aarq[pos]
            size, body = decode_length(aarq, pos + 1)
            if tag == 0xAC:
                inner, value = decode_length(aarq, body + 1)
                return value, value + inner
            pos = body + size
    except (ApduError, IndexError):
        return None
    return None


def decode_aarq(data: bytes) -> Aarq:
    """Parse an AARQ.

    Raises:
        ApduError: not an AARQ, or malformed.
    """
    try:
        items = _outer(data, AARQ_TAG, "AARQ")
        context = _read_tlvs(items.get(0xA1, b""), 0, len(items.get(0xA1, b""))).get(0x06, b"")
        lls = items.get(0x8B) == _MECHANISM_LLS
        password = b""
        if 0xAC in items:
            auth = items[0xAC]
            password = _read_tlvs(auth, 0, len(auth)).get(0x80, b"")
        user = items.get(0xBE)
        if user is None:
            raise ApduError("AARQ without user-information (xDLMS-Initiate.request)")
        initiate = _read_tlvs(user, 0, len(user)).get(0x04, b"")
        if not initiate or initiate[0] != 0x01:
            raise ApduError("AARQ user-information is not an xDLMS-Initiate.request")
        ciphered = initiate[1] != 0
        pos = _skip_optional(initiate, 1, sized=True)
        pos = _skip_optional(initiate, pos, sized=False)
        pos = _skip_optional(initiate, pos, sized=False)
        pos += 1  # proposed DLMS version
        conformance, pos = _read_conformance(initiate, pos)
        if len(initiate) < pos + 2:
            raise ApduError("xDLMS-Initiate.request cut short")
        max_pdu = int.from_bytes(initiate[pos : pos + 2], "big")
    except IndexError:
        raise ApduError("AARQ cut short") from None
    return Aarq(context == _CONTEXT_LN, lls, password, conformance, max_pdu, ciphered)


@dataclass(frozen=True, slots=True)
class Aare:
    """What the meter answered to the AARQ.

    Attributes:
        result: accepted or rejected.
        diagnostic: the result-source-diagnostic value.
        conformance: the negotiated conformance block (0 when rejected).
        max_pdu: the server's largest receivable APDU (0 when rejected).
        service_error: an xDLMS ``confirmedServiceError`` in the user-information, in words.
    """

    result: AssociationResult | int
    diagnostic: int
    conformance: int = 0
    max_pdu: int = 0
    service_error: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the association was accepted."""
        return self.result == AssociationResult.ACCEPTED and not self.service_error

    def reason(self) -> str:
        """Why it was rejected, in words."""
        text = _USER_DIAGNOSTICS.get(self.diagnostic, f"diagnostic {self.diagnostic}")
        if self.service_error:
            text += f"; {self.service_error}"
        return text


def encode_aare(
    result: AssociationResult,
    diagnostic: int = 0,
    *,
    conformance: int = 0,
    max_pdu: int = 0x0400,
) -> bytes:
    """An AARE: accepted with the negotiated conformance, or rejected with ``diagnostic``."""
    body = _tlv(0xA1, _tlv(0x06, _CONTEXT_LN))
    body += _tlv(0xA2, _tlv(0x02, bytes((int(result),))))
    body += _tlv(0xA3, _tlv(0xA1, _tlv(0x02, bytes((diagnostic,)))))
    if result == AssociationResult.ACCEPTED:
        initiate = (
            bytes((0x08, 0x00, _DLMS_VERSION))
            + _conformance_bytes(conformance)
            + max_pdu.to_bytes(2, "big")
            + b"\x00\x07"
        )
        body += _tlv(0xBE, _tlv(0x04, initiate))
    return _tlv(AARE_TAG, body)


def decode_aare(data: bytes) -> Aare:
    """Parse an AARE.

    Raises:
        ApduError: not an AARE, or malformed.
    """
    try:
        items = _outer(data, AARE_TAG, "AARE")
        result_tlv = items.get(0xA2)
        if result_tlv is None:
            raise ApduError("AARE without a result")
        result_value = _read_tlvs(result_tlv, 0, len(result_tlv)).get(0x02, b"")
        if len(result_value) != 1:
            raise ApduError("AARE result malformed")
        try:
            result: AssociationResult | int = AssociationResult(result_value[0])
        except ValueError:
            result = result_value[0]
        diagnostic = 0
        source = items.get(0xA3)
        if source:
            inner = _read_tlvs(source, 0, len(source))
            for value in inner.values():
                code = _read_tlvs(value, 0, len(value)).get(0x02, b"")
                if len(code) == 1:
                    diagnostic = code[0]
        conformance = max_pdu = 0
        service_error = ""
        user = items.get(0xBE)
        if user:
            initiate = _read_tlvs(user, 0, len(user)).get(0x04, b"")
            if initiate[:1] == b"\x08":
                pos = _skip_optional(initiate, 1, sized=False)
                pos += 1  # negotiated DLMS version
                conformance, pos = _read_conformance(initiate, pos)
                if len(initiate) < pos + 2:
                    raise ApduError("xDLMS-Initiate.response cut short")
                max_pdu = int.from_bytes(initiate[pos : pos + 2], "big")
            elif initiate[:1] == bytes((CONFIRMED_SERVICE_ERROR_TAG,)):
                service_error = service_error_text(initiate) or "confirmed service error"
    except IndexError:
        raise ApduError("AARE cut short") from None
    return Aare(result, diagnostic, conformance, max_pdu, service_error)


def encode_rlrq() -> bytes:
    """A release request with reason normal."""
    return bytes.fromhex("6203800100")


def encode_rlre() -> bytes:
    """A release response with reason normal."""
    return bytes.fromhex("6303800100")


# -- GET --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeRequest:
    """One attribute to GET, with optional selective access.

    Attributes:
        class_id: the interface class.
        obis: the object's logical name.
        attribute: the attribute index (2 = value).
        selector: the access selector (1 = by range, 2 = by entry), or ``None``.
        parameters: the selector's parameters (an A-XDR encodable value).
    """

    class_id: int
    obis: Obis
    attribute: int
    selector: int | None = None
    parameters: Any = None

    def encode(self) -> bytes:
        """Cosem-Attribute-Descriptor + selective access."""
        head = (
            self.class_id.to_bytes(2, "big")
            + self.obis.to_bytes()
            + bytes((self.attribute & 0xFF,))
        )
        if self.selector is None:
            return head + b"\x00"
        return head + bytes((0x01, self.selector)) + encode_data(self.parameters)

    def __str__(self) -> str:
        return f"{self.obis} class {self.class_id} attribute {self.attribute}"


def encode_get_normal(request: AttributeRequest, invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    """GET-Request-Normal."""
    return bytes((GET_REQUEST_TAG, 0x01, invoke)) + request.encode()


def encode_get_next(block: int, invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    """GET-Request-Next: the data block after ``block``."""
    return bytes((GET_REQUEST_TAG, 0x02, invoke)) + block.to_bytes(4, "big")


def encode_get_list(
    requests: list[AttributeRequest], invoke: int = INVOKE_ID_AND_PRIORITY
) -> bytes:
    """GET-Request-With-List."""
    body = b"".join(r.encode() for r in requests)
    return bytes((GET_REQUEST_TAG, 0x03, invoke)) + encode_length(len(requests)) + body


@dataclass(frozen=True, slots=True)
class GetRequest:
    """A decoded GET-Request (the server side).

    Attributes:
        kind: 1 normal, 2 next, 3 with list.
        invoke: the invoke-id-and-priority byte.
        attributes: the requested attributes (normal, with list).
        block: the last block received (next).
    """

    kind: int
    invoke: int
    attributes: tuple[AttributeRequest, ...] = ()
    block: int = 0


def _decode_attribute(data: bytes, pos: int) -> tuple[AttributeRequest, int]:
    if pos + 10 > len(data):
        raise ApduError("Cosem-Attribute-Descriptor cut short")
    class_id = int.from_bytes(data[pos : pos + 2], "big")
    obis = Obis.from_bytes(data[pos + 2 : pos + 8])
    attribute = data[pos + 8]
    flag = data[pos + 9]
    pos += 10
    if flag == 0:
        return AttributeRequest(class_id, obis, attribute), pos
    if flag != 1 or pos >= len(data):
        raise ApduError("selective access malformed")
    selector = data[pos]
    parameters, pos = decode_data(data, pos + 1)
    return AttributeRequest(class_id, obis, attribute, selector, parameters), pos


def decode_get_request(data: bytes) -> GetRequest:
    """Parse a GET-Request.

    Raises:
        ApduError: not a GET-Request, or malformed.
    """
    if len(data) < 3 or data[0] != GET_REQUEST_TAG:
        raise ApduError(f"expected a GET-Request, got {apdu_name(data)}")
    kind, invoke = data[1], data[2]
    if kind == 1:
        attribute, _ = _decode_attribute(data, 3)
        return GetRequest(1, invoke, (attribute,))
    if kind == 2:
        if len(data) < 7:
            raise ApduError("GET-Request-Next cut short")
        return GetRequest(2, invoke, block=int.from_bytes(data[3:7], "big"))
    if kind == 3:
        count, pos = decode_length(data, 3)
        if count > (len(data) - pos) // 10:
            raise ApduError("GET-Request-With-List cut short")
        attributes = []
        for _ in range(count):
            attribute, pos = _decode_attribute(data, pos)
            attributes.append(attribute)
        return GetRequest(3, invoke, tuple(attributes))
    raise ApduError(f"unknown GET-Request choice {kind}")


@dataclass(frozen=True, slots=True)
class GetResult:
    """One attribute's outcome: a value, or a data-access-result.

    Attributes:
        value: the decoded value (``None`` also for null-data: see ``error``).
        error: 0 for success, else the data-access-result code.
    """

    value: Any = None
    error: int = 0

    @property
    def ok(self) -> bool:
        """Whether the meter gave a value."""
        return self.error == 0


@dataclass(frozen=True, slots=True)
class GetResponse:
    """A decoded GET-Response.

    Attributes:
        kind: 1 normal, 2 with data block, 3 with list.
        invoke: the invoke-id-and-priority byte.
        results: the outcomes (normal, with list; a block's error).
        last_block: the block was the last (with data block).
        block: the block number (with data block).
        raw: the block's raw data (with data block).
    """

    kind: int
    invoke: int
    results: tuple[GetResult, ...] = ()
    last_block: bool = True
    block: int = 0
    raw: bytes = b""


def decode_get_results(data: bytes, pos: int, count: int) -> tuple[tuple[GetResult, ...], int]:
    """``count`` Get-Data-Results (``00 data`` / ``01 code``) from ``pos``.

    Raises:
        ApduError: malformed.
    """
    if count > len(data) - pos:
        raise ApduError("GET-Response results cut short")
    results = []
    for _ in range(count):
        if pos >= len(data):
            raise ApduError("GET-Response result cut short")
        choice = data[pos]
        if choice == 0:
            value, pos = decode_data(data, pos + 1)
            results.append(GetResult(value))
        elif choice == 1:
            if pos + 1 >= len(data):
                raise ApduError("data-access-result cut short")
            code = data[pos + 1]
            results.append(GetResult(None, code or DataAccessResult.OTHER_REASON))
            pos += 2
        else:
            raise ApduError(f"unknown Get-Data-Result choice {choice}")
    return tuple(results), pos


def decode_get_response(data: bytes) -> GetResponse:
    """Parse a GET-Response.

    Raises:
        ApduError: not a GET-Response, or malformed.
    """
    if len(data) < 4 or data[0] != GET_RESPONSE_TAG:
        raise ApduError(f"expected a GET-Response, got {apdu_name(data)}")
    kind, invoke = data[1], data[2]
    if kind == 1:
        results, _ = decode_get_results(data, 3, 1)
        return GetResponse(1, invoke, results)
    if kind == 2:
        if len(data) < 9:
            raise ApduError("GET-Response-With-Datablock cut short")
        last = data[3] != 0
        block = int.from_bytes(data[4:8], "big")
        if data[8] == 0:
            length, pos = decode_length(data, 9)
            if pos + length > len(data):
                raise ApduError("GET-Response data block cut short")
            return GetResponse(2, invoke, (), last, block, bytes(data[pos : pos + length]))
        if data[8] == 1 and len(data) >= 10:
            code = data[9] or DataAccessResult.OTHER_REASON
            return GetResponse(2, invoke, (GetResult(None, code),), True, block)
        raise ApduError("GET-Response data block result malformed")
    if kind == 3:
        count, pos = decode_length(data, 3)
        results, _ = decode_get_results(data, pos, count)
        return GetResponse(3, invoke, results)
    raise ApduError(f"unknown GET-Response choice {kind}")


def _result_bytes(result: GetResult | bytes) -> bytes:
    if isinstance(result, bytes):  # an already encoded value
        return b"\x00" + result
    if result.error:
        return bytes((0x01, result.error))
    return b"\x00" + encode_data(result.value)


def encode_get_response_normal(result: GetResult | bytes, invoke: int) -> bytes:
    """GET-Response-Normal (``result`` as a :class:`GetResult` or already encoded Data)."""
    return bytes((GET_RESPONSE_TAG, 0x01, invoke)) + _result_bytes(result)


def encode_get_response_list(results: list[GetResult | bytes], invoke: int) -> bytes:
    """GET-Response-With-List."""
    body = b"".join(_result_bytes(r) for r in results)
    return bytes((GET_RESPONSE_TAG, 0x03, invoke)) + encode_length(len(results)) + body


def encode_get_response_block(
    raw: bytes, block: int, last: bool, invoke: int, *, error: int = 0
) -> bytes:
    """GET-Response-With-Datablock carrying ``raw`` (or a data-access-result ``error``)."""
    head = bytes((GET_RESPONSE_TAG, 0x02, invoke, 1 if last else 0)) + block.to_bytes(4, "big")
    if error:
        return head + bytes((0x01, error))
    return head + b"\x00" + encode_length(len(raw)) + raw
