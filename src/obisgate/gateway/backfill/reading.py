"""Reading one chunk of a load profile: one programming session on the device's line.

:func:`read_profile` opens the line, waits ``poll_delay``, signs on with the
device's password, reads ``P.01(from;to)``, signs off, waits ``close_delay`` and
releases the line, as a poll does; :func:`profile_on` is the same on a line
that is already open (a kept converter connection). The caller bounds the call
in time; cancelling it signs off (shielded) and releases the port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from obisgate import LoadProfile, PasswordScheme, Transport, open_transport, read_load_profile_on
from obisgate.gateway.plan import DevicePlan, ProfilePlan

__all__ = ["ProfileRead", "ProfileRequest", "on_line", "profile_on", "read_profile"]


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """One chunk, in the meter's clock.

    Attributes:
        start: the first time stamp wanted (naive, meter local time).
        end: the last time stamp wanted.
        season: the season flag written in the request.
    """

    start: datetime
    end: datetime
    season: str = "0"


ProfileRead = Callable[[DevicePlan, ProfileRequest], Awaitable[LoadProfile]]
"""Reads one chunk of ``plan``'s profile; raises ObisgateError."""


async def read_profile(plan: DevicePlan, request: ProfileRequest) -> LoadProfile:
    """Open the device's line, read one chunk of its load profile, release the line.

    Raises:
        ConfigError: the password cannot be read (nothing is sent).
        AccessDeniedError: the password was refused.
        MeterError: the meter refused the profile request (an error answer).
        ObisgateError: any other failure of the port or the session.
    """
    profile = _profile(plan)
    scheme = profile.programming.scheme()  # read before the line is taken
    transport = await open_transport(plan.url, plan.line, connect_timeout_s=plan.connect_timeout_s)
    try:
        return await _session(transport, plan, profile, request, scheme)
    finally:
        await transport.aclose()


async def profile_on(
    transport: Transport, plan: DevicePlan, request: ProfileRequest
) -> LoadProfile:
    """:func:`read_profile` on a line that is already open (and stays open).

    Raises:
        The errors of :func:`read_profile`.
    """
    profile = _profile(plan)
    return await _session(transport, plan, profile, request, profile.programming.scheme())


async def _session(
    transport: Transport,
    plan: DevicePlan,
    profile: ProfilePlan,
    request: ProfileRequest,
    scheme: PasswordScheme,
) -> LoadProfile:
    if plan.poll_delay_s > 0:
        await asyncio.sleep(plan.poll_delay_s)
    result = await read_load_profile_on(
        transport,
        request.start,
        request.end,
        options=profile.programming.options,
        scheme=scheme,
        profile=profile.address,
        command=profile.command,
        max_span=request.end - request.start + timedelta(minutes=1),
        season=request.season,
    )
    await asyncio.sleep(plan.close_delay_s)
    return result


def _profile(plan: DevicePlan) -> ProfilePlan:
    if plan.profile is None:  # the line only backfills devices with a profile
        raise RuntimeError(f"device {plan.alias} has no load profile to read")
    return plan.profile


def on_line(
    run: Callable[
        [DevicePlan, Callable[[Transport], Awaitable[LoadProfile]]], Awaitable[LoadProfile]
    ],
) -> ProfileRead:
    """A :data:`ProfileRead` that runs its session through ``run`` (a line's kept connection)."""

    async def read(plan: DevicePlan, request: ProfileRequest) -> LoadProfile:
        return await run(plan, lambda transport: profile_on(transport, plan, request))

    return read
