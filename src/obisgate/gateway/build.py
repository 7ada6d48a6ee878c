"""Turn a loaded configuration into device plans for the poller."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

from obisgate import (
    ConfigError,
    DlmsOptions,
    ObjectSpec,
    PasswordScheme,
    ProgrammingOptions,
    ReadoutOptions,
    RecipeBook,
    RecipeRules,
    load_recipes,
    make_scheme,
    parse_obis,
)
from obisgate.gateway.backfill.times import meter_zone
from obisgate.gateway.config import DeviceConfig, GatewayConfig, SignalConfig
from obisgate.gateway.interning import shared_equal
from obisgate.gateway.plan import (
    DevicePlan,
    DlmsPlan,
    ListRequest,
    ProfilePlan,
    ProgrammingPlan,
    SignalPlan,
)
from obisgate.gateway.schedule import phase_of
from obisgate.gcpause import paused_gc

__all__ = ["device_plan", "device_rules", "dlms_tag", "plans_from_config"]


def device_rules(
    device: DeviceConfig, book: RecipeBook, shared: dict[object, Any] | None = None
) -> RecipeRules:
    """The recipes the reader applies to ``device`` after the identification.

    Every recipe of ``book`` that matches the meter, never changing a field the
    device sets (a recipe named in ``meter_model`` has already filled the
    fields it does not set); none with ``meter_model = "none"``. Devices with
    the same set of given fields share one rules object through ``shared``.
    """
    off = (device.meter_model or "").strip().lower() == "none"
    given = device.model_fields_set
    key = ("recipe rules", id(book), id(given), off)  # given: shared by equal devices
    rules = None if shared is None else shared.get(key)
    if rules is None:
        rules = book.rules_for_device(given, off=off)
        if shared is not None:
            shared[key] = rules
    return rules


def device_plan(
    device: DeviceConfig,
    signals: tuple[SignalConfig, ...],
    shared: dict[object, Any] | None = None,
    options: ReadoutOptions | None = None,
    book: RecipeBook | None = None,
    group_sessions: int | None = None,
) -> DevicePlan:
    """The poller's plan for one configured device.

    Devices on the same serial port, or the same TCP / RFC 2217 endpoint, get
    the same ``port_key`` and therefore take turns. ``shared`` (one dict for all
    devices of a configuration) lets equal signal plans and line settings be one
    object (and the tuple of them: many devices read the same signals), as well as a
    line's address and ``port_key``. ``options``: the device's
    ``readout_options()`` when already made. ``book``: the recipes (default:
    obisgate's own). ``group_sessions``: its throttle group's ``max_sessions``. Derived
    signals are not read: the processing stage computes them
    (:mod:`obisgate.gateway.processing.build`).
    """
    if shared is None:
        shared = {}
    rules = device_rules(device, book or RecipeBook.packaged(), shared)
    comma = device.decimal_comma
    enabled = [s for s in signals if s.enable and not s.derived]
    plans = shared_equal(tuple(_signal_plan(s, comma, shared) for s in enabled), shared)
    if options is None:
        options = device.readout_options()
    dlms = None
    if device.type in ("E", "HDLC"):
        plans = tuple(
            dataclasses.replace(p, tag=dlms_tag(s)) for p, s in zip(plans, enabled, strict=True)
        )
        dlms = _dlms_plan(device, enabled)
    programming = None
    registers = None
    if any(s.by_command for s in plans) or device.register_reads or device.profile is not None:
        programming = ProgrammingPlan(
            options=ProgrammingOptions(
                sign_on=dataclasses.replace(options, option="1"),
                read_command=device.read_command,
                read_argument=device.read_argument,
                answer_timeout_s=device.timeout_ms / 1000,
            ),
            scheme=partial(_scheme, device),
        )
        if device.register_reads:
            registers = programming
    profile = None
    if device.profile is not None and programming is not None:
        by_alias = {p.alias: p for p in plans}
        profile = ProfilePlan(
            address=device.profile,
            period_s=device.profile_period_s,
            command=device.profile_command,
            zone=meter_zone(device.profile_timezone),
            max_days=device.backfill_max_days,
            chunk=device.backfill_chunk,
            channels=tuple(
                (s.profile_channel, by_alias[s.signal_alias])
                for s in signals
                if s.enable and s.profile_channel is not None
            ),
            programming=programming,
        )
    if not any(s.by_command for s in plans):
        programming = None  # the profile and register reads sign on by themselves
    lists = tuple(
        shared_equal(ListRequest(start, frozenset(tags)), shared)
        for start, tags in device.list_requests
    )
    scan_s = device.scan_rate_ms / 1000
    return DevicePlan(
        alias=device.device_alias,
        # One string per line, not two per device (``tcp://ip:port`` is both).
        url=shared_equal(device.url_or_port, shared),
        port_key=shared_equal(device.port_key, shared),
        line=shared_equal(device.line_settings(), shared),
        options=options,
        scan_rate_s=scan_s,
        poll_delay_s=device.poll_delay_ms / 1000,
        close_delay_s=device.serial_close_delay / 1000,
        retries=device.retries,
        total_timeout_s=device.total_timeout_s,
        keep_open=device.keep_open,
        signals=plans,
        programming=programming,
        recipes=rules,
        dlms=dlms,
        group=device.group,
        group_sessions=group_sessions,
        phase_s=None if device.scan_align else phase_of(device.device_alias, scan_s),
        lists=lists,
        registers=registers,
        profile=profile,
    )


def dlms_tag(signal: SignalConfig) -> str:
    """The address of a DLMS signal's data set: its OBIS code in the full spelling
    (``1.8.0`` -> ``1-0:1.8.0*255``), ``/attribute`` added when not 2.

    Raises:
        ConfigError: the tag is no OBIS code, or the signal is derived (cannot happen
            after :func:`load_config`).
    """
    obis = parse_obis(_tag(signal))
    return str(obis) if signal.attribute == 2 else f"{obis}/{signal.attribute}"


def _tag(signal: SignalConfig) -> str:
    """The address of a read signal.

    Raises:
        ConfigError: the signal is derived.
    """
    if signal.tag_job_todo is None:
        raise ConfigError(f"{signal.device_alias}/{signal.signal_alias} is derived, not read")
    return signal.tag_job_todo


def _dlms_plan(device: DeviceConfig, signals: list[SignalConfig]) -> DlmsPlan:
    objects: dict[tuple[object, ...], ObjectSpec] = {}
    for signal in signals:
        spec = ObjectSpec(parse_obis(_tag(signal)), signal.cosem_class, signal.attribute)
        objects.setdefault((spec.obis, spec.attribute), spec)
    lls = any(
        getattr(device, name) is not None for name in ("password", "password_env", "password_file")
    )
    return DlmsPlan(
        options=DlmsOptions(
            client=device.dlms_client,
            logical=device.dlms_logical,
            physical=device.dlms_physical,
            response_timeout_s=max(device.timeout_ms / 1000, 0.5),
        ),
        objects=tuple(objects.values()),
        mode_e=device.type == "E",
        password=partial(_lls_password, device) if lls else None,
    )


def _lls_password(device: DeviceConfig) -> bytes | None:
    """The device's LLS password, read now.

    Raises:
        ConfigError: the variable or file named is missing.
    """
    secret = device.resolve_password()
    return None if secret is None else secret.get_secret_value().encode("latin-1", "replace")


def _signal_plan(
    signal: SignalConfig, decimal_comma: bool, shared: dict[object, Any]
) -> SignalPlan:
    """``signal.plan()``, made once per distinct signal (the key holds every input)."""
    key = (
        signal.signal_alias,
        signal.signal_name,
        signal.tag_job_todo,
        signal.value_index,
        signal.subvalue,
        signal.number_type,
        signal.multiply,
        signal.add,
        signal.unit,
        signal.log,
        signal.read_by,
        signal.scan_rate_ms,
        decimal_comma,
    )
    plan = shared.get(key)
    if plan is None:
        plan = shared[key] = signal.plan(decimal_comma=decimal_comma)
    return plan


def _scheme(device: DeviceConfig) -> PasswordScheme:
    """The device's password scheme, reading the password only now.

    Raises:
        ConfigError: the password variable or file is missing, or the scheme
            needs a password and none is configured.
    """
    secret = device.resolve_password()
    password = None if secret is None else secret.get_secret_value()
    name = device.password_scheme if password is not None else "none"
    return make_scheme(name, password)


def plans_from_config(config: GatewayConfig, book: RecipeBook | None = None) -> list[DevicePlan]:
    """Plans for every enabled device, each with its enabled signals.

    ``book``: the recipes; by default obisgate's own and the file named by
    ``OBISGATE_RECIPES`` (already checked by the configuration's load).

    Raises:
        ConfigError: the ``OBISGATE_RECIPES`` file cannot be read.
    """
    shared: dict[object, Any] = {}
    book = book or load_recipes()
    with paused_gc():
        return [
            device_plan(
                device,
                config.signals_for(device.device_alias),
                shared,
                config.readout_options(device),
                book,
                None if device.group is None else config.max_sessions(device.group),
            )
            for device in config.enabled_devices
        ]
