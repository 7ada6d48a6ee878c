"""What to read from a DLMS/COSEM meter, and how its answers become a readout. Pure.

A readout of a mode E meter has the shape of a D0 readout: one data set per
object, addressed by its full OBIS code ``A-B:C.D.E*F``, its value scaled by
the register's scaler, its unit the DLMS unit's symbol; ``raw`` keeps the
unscaled value and the scaler (``148123456 scaler -3``). An extended or
demand register adds its capture time as a second value group, as D0 meters
send ``1.6.0(02.468*kW)(2511180930)``. An object the meter could not give
has an empty value and ``raw`` ``data-access-result: <reason>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from obisgate.dlms.apdu import AttributeRequest, DataAccessResult, GetResult
from obisgate.dlms.cosem import (
    VALUE_CLASSES,
    CosemClass,
    Obis,
    format_value,
    parse_obis,
    scaled_text,
    unit_symbol,
)
from obisgate.errors import ApduError, ConfigError
from obisgate.protocol.dataset import DataSet, Value

__all__ = [
    "ASSOCIATION_OBJECT",
    "DAR_PREFIX",
    "ListedObject",
    "ObjectReading",
    "ObjectSpec",
    "data_access_error",
    "parse_object_list",
    "parse_object_specs",
    "plan_requests",
    "readings_from_results",
    "to_dataset",
]

#: The current association (class 15) whose attribute 2 lists every object.
ASSOCIATION_OBJECT: Final = AttributeRequest(15, Obis(0, 0, 40, 0, 0, 255), 2)
#: ``raw`` of a data set whose object the meter could not give.
DAR_PREFIX: Final = "data-access-result: "


def data_access_error(value: Value) -> str | None:
    """Why the meter could not give the object of a DLMS data set's ``value``
    (``data-access-result: object-undefined``), or ``None`` for a value.

    Never true for a D0 value: its value text is never empty when its raw text is not.
    """
    if not value.value and value.raw.startswith(DAR_PREFIX):
        return value.raw
    return None


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """An object the user asked for.

    Attributes:
        obis: its logical name.
        class_id: its interface class (``None``: learned from the object list).
        attribute: the attribute to read (2 = value).
    """

    obis: Obis
    class_id: int | None = None
    attribute: int = 2


def parse_object_specs(text: str) -> list[ObjectSpec]:
    """``--objects`` text: objects separated by commas, each ``CODE[@CLASS][/ATTRIBUTE]``.

    ``CODE`` in either OBIS spelling; ``@3`` names the interface class (default:
    from the object list); ``/2`` the attribute (default 2, the value), e.g.
    ``1-0:1.8.0*255,1.8.0@3,0-0:1.0.0*255@8/2``.

    Raises:
        ConfigError: an empty list or a code that does not parse.
    """
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        code, _, rest = part.partition("@")
        attribute = 2
        if "/" in code:
            code, _, attr_text = code.partition("/")
            attribute = _small_int(attr_text, part, "attribute", 1, 255)
        class_id = None
        if rest:
            class_text, _, attr_text = rest.partition("/")
            class_id = _small_int(class_text, part, "class", 1, 0xFFFF)
            if attr_text:
                attribute = _small_int(attr_text, part, "attribute", 1, 255)
        specs.append(ObjectSpec(parse_obis(code), class_id, attribute))
    if not specs:
        raise ConfigError("no objects given: e.g. --objects 1-0:1.8.0*255,1-0:32.7.0*255")
    return specs


def _small_int(text: str, part: str, what: str, low: int, high: int) -> int:
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"object {part!r}: {what} {text!r} is not {low}-{high}")
    return int(text)


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One entry of the association's object list."""

    class_id: int
    version: int
    obis: Obis


def parse_object_list(value: Any) -> list[ListedObject]:
    """The entries of an object list (attribute 2 of class 15).

    Raises:
        ApduError: the value is not an array of ``{class, version, name, access}``.
    """
    if not isinstance(value, list):
        raise ApduError("the object list is not an array")
    out = []
    for entry in value:
        if (
            not isinstance(entry, tuple)
            or len(entry) < 3
            or not isinstance(entry[0], int)
            or not isinstance(entry[2], bytes)
            or len(entry[2]) != 6
        ):
            raise ApduError("an object list entry is not {class_id, version, logical_name, ...}")
        version = entry[1] if isinstance(entry[1], int) else 0
        out.append(ListedObject(int(entry[0]), int(version), Obis.from_bytes(entry[2])))
    return out


@dataclass(frozen=True, slots=True)
class _Target:
    class_id: int
    obis: Obis
    attribute: int


def _scaler_attribute(class_id: int) -> int | None:
    try:
        return CosemClass(class_id).scaler_unit_attribute
    except ValueError:
        return None


def _capture_attribute(class_id: int) -> int | None:
    if class_id == CosemClass.EXTENDED_REGISTER:
        return 5
    if class_id == CosemClass.DEMAND_REGISTER:
        return 6
    return None


def targets_for(
    specs: Sequence[ObjectSpec] | None, listed: Sequence[ListedObject]
) -> list[_Target]:
    """What to read: the given objects, or every value object of the list.

    Raises:
        ConfigError: an object without a class that the object list does not hold.
    """
    classes = {obj.obis: obj.class_id for obj in listed}
    if specs is None:
        return [
            _Target(obj.class_id, obj.obis, 2)
            for obj in listed
            if obj.class_id in VALUE_CLASSES and obj.obis != ASSOCIATION_OBJECT.obis
        ]
    targets = []
    for spec in specs:
        class_id = spec.class_id if spec.class_id is not None else classes.get(spec.obis)
        if class_id is None:
            # Not listed: ask as a register; the meter's answer says what it is.
            class_id = CosemClass.REGISTER
        targets.append(_Target(class_id, spec.obis, spec.attribute))
    return targets


def plan_requests(targets: Iterable[_Target]) -> list[AttributeRequest]:
    """Every attribute to GET: the value, and for registers the scaler and capture time."""
    requests = []
    for target in targets:
        requests.append(AttributeRequest(target.class_id, target.obis, target.attribute))
        if target.attribute == 2:
            scaler = _scaler_attribute(target.class_id)
            if scaler is not None:
                requests.append(AttributeRequest(target.class_id, target.obis, scaler))
            capture = _capture_attribute(target.class_id)
            if capture is not None:
                requests.append(AttributeRequest(target.class_id, target.obis, capture))
    return requests


@dataclass(frozen=True, slots=True)
class ObjectReading:
    """One object's outcome.

    Attributes:
        class_id, obis, attribute: what was read.
        value: the decoded value (``None`` when ``error``).
        scaler: the register's scaler (``None``: not a register, or unknown).
        unit: the DLMS unit code (``None``: none).
        capture_time: the extended / demand register's capture time (12 bytes).
        error: 0, or the data-access-result code.
    """

    class_id: int
    obis: Obis
    attribute: int
    value: Any
    scaler: int | None = None
    unit: int | None = None
    capture_time: Any = None
    error: int = 0


def readings_from_results(
    requests: Sequence[AttributeRequest], results: Sequence[GetResult]
) -> list[ObjectReading]:
    """Pair each value with its scaler_unit and capture time (from :func:`plan_requests`)."""
    by_key = {(r.obis, r.attribute): res for r, res in zip(requests, results, strict=True)}
    readings = []
    seen: set[tuple[Obis, int]] = set()
    for request in requests:
        key = (request.obis, request.attribute)
        if key in seen:
            continue
        extra = {_scaler_attribute(request.class_id), _capture_attribute(request.class_id)}
        if request.attribute in extra and (request.obis, 2) in by_key:
            continue
        seen.add(key)
        result = by_key[key]
        scaler = unit = capture = None
        if request.attribute == 2:
            scaler_attr = _scaler_attribute(request.class_id)
            scaler_unit = by_key.get((request.obis, scaler_attr)) if scaler_attr else None
            if scaler_unit is not None and scaler_unit.ok:
                pair = scaler_unit.value
                if (
                    isinstance(pair, tuple)
                    and len(pair) == 2
                    and isinstance(pair[0], int)
                    and isinstance(pair[1], int)
                ):
                    scaler, unit = int(pair[0]), int(pair[1])
            capture_attr = _capture_attribute(request.class_id)
            captured = by_key.get((request.obis, capture_attr)) if capture_attr else None
            if captured is not None and captured.ok:
                capture = captured.value
        readings.append(
            ObjectReading(
                request.class_id,
                request.obis,
                request.attribute,
                result.value,
                scaler,
                unit,
                capture,
                result.error,
            )
        )
    return readings


def to_dataset(reading: ObjectReading) -> DataSet:
    """The data set of one reading (see the module docstring)."""
    address = str(reading.obis)
    if reading.attribute != 2:
        address += f"/{reading.attribute}"
    if reading.error:
        raw = DAR_PREFIX + DataAccessResult.text(reading.error)
        return DataSet(address, (Value(raw, "", None),))
    value = reading.value
    unit = unit_symbol(reading.unit)
    if isinstance(value, int) and not isinstance(value, bool) and reading.scaler is not None:
        text = scaled_text(int(value), reading.scaler)
        raw = f"{int(value)} scaler {reading.scaler}" if reading.scaler else str(int(value))
        values = [Value(raw, text, unit)]
    else:
        text, raw = format_value(value)
        values = [Value(raw, text, unit)]
    if reading.capture_time is not None:
        stamp, stamp_raw = format_value(reading.capture_time)
        values.append(Value(stamp_raw, stamp, None))
    return DataSet(address, tuple(values))
