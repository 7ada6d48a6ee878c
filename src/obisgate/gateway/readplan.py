"""Read plans: the cheapest request that returns what is due, and what each one costs. Pure.

For one poll the poller knows which signals are due (:mod:`.schedule`). This module
lists the requests that would return them and estimates each one's time on the wire,
from the line rates and the size of the device's last readout (:class:`ReadSize`):

* the **readout** (``/?ADDRESS!``): every data set the meter has;
* a **list** the meter offers (``/2!``, ``/3!`` ... in the device's ``list_requests``):
  only the data sets of that list, when they hold every due readout signal;
* **register reads** in programming mode (``R1``/``R5`` per register: sign-on with
  the device's password, one read per register, sign-off), when the device allows
  them (``register_reads = 1``) and its password was never refused.

Signals read by command (``read_by = command``) are read in a programming session
after the readout or list, as always; register reads read them in the same session.

An estimate counts every byte at its rate (10 bits per character: 7E1 or 8N1 plus
start and stop) and the standard's minimum reaction times (the meter's tr, 200 ms or
20 ms for a lower-case 3rd manufacturer letter, before each answer; our ``t2`` before
the acknowledgement and tr before each programming command). Without a recorded
readout the readout's size is not known: its estimate is then the configured signals'
lines alone (a lower bound) and the readout is chosen, which records the size for
the next polls. :func:`choose` takes the cheapest alternative that returns every due
signal; on a tie, the readout.

Nothing here does I/O or reads a clock; :func:`variant` builds the plan the poller
reads with (a copy of the device's plan with the due signals and the chosen request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from obisgate import DataSet, Identification, ProtocolMode, Readout, ReadoutOptions
from obisgate.gateway.plan import DevicePlan, ListRequest, SignalPlan

__all__ = [
    "Alternative",
    "DevicePlanner",
    "ReadKind",
    "ReadSize",
    "alternatives",
    "choose",
    "data_baud",
    "readout_bytes",
    "record_size",
    "variant",
]

#: Bits on the wire per character (start, 7 data + parity or 8 data, stop).
BITS_PER_CHAR = 10
#: The meter's minimum reaction time tr (s), and for a lower-case 3rd manufacturer letter.
TR_S, TR_FAST_S = 0.2, 0.02
#: The mode C rates of the standard (for ``max_baud`` below a proposal).
MODE_C_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200)
#: Assumed when no readout was recorded: an identification line, and the P0 operand.
_IDENT_GUESS = "/XXX5XXXXXXXXXXXXXXX"
_OPERAND_LEN = 8
#: The pause between a readout and the programming sign-on of the same poll (poller).
_BETWEEN_SESSIONS_S = 0.2


class ReadKind(StrEnum):
    """What a poll sends."""

    READOUT = "readout"
    LIST = "list"
    REGISTERS = "registers"
    ASSOCIATION = "association"  # a DLMS meter: one association, the due objects


@dataclass(frozen=True, slots=True)
class ReadSize:
    """What a device's last readout looked like on the wire (for the estimates).

    Attributes:
        data_bytes: the readout's data message, STX to BCC.
        datasets: its data sets.
        baud: the rate it came at.
        identification: the meter's identification line (``/ISk5MT174-0001``).
        lists: ``(request start, data message bytes)`` of each list read so far.
    """

    data_bytes: int
    datasets: int
    baud: int
    identification: str = ""
    lists: tuple[tuple[str, int], ...] = ()

    def list_bytes(self, start: str) -> int | None:
        """The recorded size of list ``start``'s answer, or ``None``."""
        return next((size for name, size in self.lists if name == start), None)

    def with_list(self, start: str, data_bytes: int) -> ReadSize:
        """This record with list ``start``'s answer size replaced."""
        lists = (*tuple((n, s) for n, s in self.lists if n != start), (start, data_bytes))
        return dataclasses.replace(self, lists=lists)

    @property
    def line_bytes(self) -> float:
        """The mean size of one data line (address, brackets, CR LF)."""
        return (self.data_bytes - 6) / self.datasets if self.datasets else 20.0


@dataclass(frozen=True, slots=True)
class Alternative:
    """One way to read what is due.

    Attributes:
        kind: readout, list, registers (or association for a DLMS meter).
        request: what is sent, in words (``/?71234567!``, ``/2!``, ``R1 x 3``).
        seconds: the estimated wire time (``None``: not estimated).
        usable: whether it returns every due signal and is allowed.
        why: why it is not usable, or what the estimate rests on.
        plan: the plan to read with (``None`` when not usable).
        request_start: a list's request start (``/2``).
    """

    kind: ReadKind
    request: str
    seconds: float | None
    usable: bool
    why: str = ""
    plan: DevicePlan | None = None
    request_start: str = ""


def readout_bytes(datasets: Sequence[DataSet]) -> int:
    """The size of a data message holding ``datasets`` as meters print them: STX, one
    line per data set (address, each value group in brackets, CR LF), ``!`` CR LF,
    ETX, BCC."""
    size = 6
    for dataset in datasets:
        size += len(dataset.address) + 2
        for value in dataset.values:
            size += len(value.raw) + 2
    return size


def data_baud(options: ReadoutOptions, identification: Identification | None) -> int:
    """The rate a readout's data message comes at: the rate the exchange would switch
    to after ``identification`` (mode B: the meter's; mode C: ours, within ``max_baud``
    or ``force_baud``); the initial rate in mode A or without an identification."""
    start = options.start_baud
    if identification is None:
        return start
    mode = options.mode or identification.mode
    if mode is ProtocolMode.A or not options.switch_baud:
        return start
    proposed = identification.proposed_baud or start
    if mode is ProtocolMode.B:
        return proposed
    if options.force_baud is not None:
        return options.force_baud
    if options.max_baud is not None and proposed > options.max_baud:
        return max(rate for rate in MODE_C_RATES if rate <= options.max_baud)
    return proposed


def _chars(count: float, baud: int) -> float:
    return count * BITS_PER_CHAR / baud


class _Line:
    """The facts an estimate needs about one device and its last readout."""

    def __init__(self, plan: DevicePlan, size: ReadSize | None) -> None:
        options = plan.options
        self.options = options
        self.start_baud = options.start_baud
        ident_text = size.identification if size and size.identification else _IDENT_GUESS
        try:
            ident: Identification | None = Identification.parse(ident_text)
        except ValueError:  # FramingError is a ValueError too
            ident = None
        self.ident_len = len(ident_text) + 2
        fast = ident is not None and ident.fast_reaction
        self.tr = TR_FAST_S if fast else TR_S
        self.t2 = options.reaction_time_s
        if fast and options.honour_fast_reaction:
            self.t2 = min(self.t2, TR_FAST_S)
        self.rate = size.baud if size is not None else data_baud(options, None)
        self.mode = options.mode or (ident.mode if ident is not None else ProtocolMode.C)
        # The programming session runs at the mode C rate the sign-on switches to.
        self.programming_rate = (
            self.rate
            if size is not None
            else data_baud(dataclasses.replace(options, mode=ProtocolMode.C), ident)
        )

    def opening(self, request_start: str) -> float:
        """Wake-up, request, the meter's reaction and its identification."""
        options = self.options
        seconds = 0.0
        if options.wakeup_nuls:
            seconds += _chars(options.wakeup_nuls, self.start_baud) + options.wakeup_delay_s
        request = len(request_start) + len(options.address) + 3
        return (
            seconds
            + _chars(request, self.start_baud)
            + self.tr
            + _chars(self.ident_len, self.start_baud)
        )

    def readout(self, request_start: str, data_bytes: float) -> float:
        """A readout (or list) answering ``data_bytes`` at the data rate."""
        seconds = self.opening(request_start)
        if self.mode is ProtocolMode.A:
            return seconds + _chars(data_bytes, self.start_baud)
        if self.mode is ProtocolMode.B:
            return seconds + self.tr + _chars(data_bytes, self.rate)
        acknowledgement = self.t2 + _chars(6, self.start_baud) + self.options.baud_change_delay_s
        return seconds + acknowledgement + self.tr + _chars(data_bytes, self.rate)

    def programming(self, tags: Sequence[str], answer_bytes: float, argument: str) -> float:
        """Sign-on (``ACK 0 Z 1``, P0, password), one read per tag, sign-off (B0)."""
        rate = self.programming_rate
        seconds = self.opening("/?") + self.t2 + _chars(6, self.start_baud)
        seconds += self.options.baud_change_delay_s
        seconds += self.tr + _chars(_OPERAND_LEN + 6, rate)  # P0 (operand)
        seconds += self.tr + _chars(_OPERAND_LEN + 6, rate) + self.tr + _chars(1, rate)  # P1, ACK
        for tag in tags:
            command = len(tag) + len(argument) + 8  # SOH R1 STX tag(arg) ETX BCC
            seconds += self.tr + _chars(command, rate) + self.tr + _chars(answer_bytes, rate)
        return seconds + self.tr + _chars(5, rate)  # SOH B0 ETX BCC


def alternatives(
    plan: DevicePlan,
    due: Sequence[SignalPlan],
    size: ReadSize | None,
    *,
    access_denied: bool = False,
) -> list[Alternative]:
    """Every way to read the signals ``due`` of ``plan``'s device, with its estimate.

    The readout is always first; then each configured list; then register reads.
    """
    if plan.dlms is not None:
        association = Alternative(ReadKind.ASSOCIATION, "DLMS association", None, True)
        return [dataclasses.replace(association, plan=variant(plan, due, association))]
    line = _Line(plan, size)
    options = plan.options
    command = [s for s in due if s.by_command]
    readout = [s for s in due if not s.by_command]
    programming = None if access_denied else plan.programming
    answer = (size.line_bytes if size is not None else 20.0) + 3
    argument = programming.options.read_argument if programming is not None else ""
    after = 0.0
    why_after = ""
    if command:
        if programming is None:
            after = 0.0
            why_after = "; signals read by command skipped: the password was refused"
        else:
            after = _BETWEEN_SESSIONS_S + line.programming(
                [s.tag for s in command], answer, argument
            )
    found: list[Alternative] = []
    if size is not None:
        data = float(size.data_bytes)
        basis = f"last readout {size.data_bytes} bytes at {size.baud} Bd"
    else:
        data = 6 + sum(len(s.tag) + 16 for s in readout)
        basis = "no readout recorded yet: the configured lines only (a lower bound)"
    request = f"{options.request_start}{options.address}!"
    if readout:
        seconds = line.readout(options.request_start, data) + after
        found.append(Alternative(ReadKind.READOUT, request, seconds, True, basis + why_after, None))
    else:
        found.append(
            Alternative(ReadKind.READOUT, request, None, False, "no readout signal is due", None)
        )
    due_tags = {s.tag for s in readout}
    for listed in plan.lists:
        found.append(_list_alternative(line, listed, due_tags, size, after, why_after))
    registers = None if access_denied else plan.registers
    if registers is not None and due:
        tags = list(dict.fromkeys(s.tag for s in due))
        seconds = line.programming(tags, answer, registers.options.read_argument)
        found.append(
            Alternative(
                ReadKind.REGISTERS,
                f"{registers.options.read_command} x {len(tags)}",
                seconds,
                True,
                f"{len(tags)} register(s), answers of about {answer:.0f} bytes",
                None,
            )
        )
    elif plan.registers is not None and access_denied:
        found.append(
            Alternative(
                ReadKind.REGISTERS,
                plan.registers.options.read_command,
                None,
                False,
                "the password was refused: never sent again until reload",
                None,
            )
        )
    if not readout and command and programming is not None:
        # Only signals read by command are due: the programming session alone.
        seconds = line.programming([s.tag for s in command], answer, argument)
        found[0] = Alternative(
            ReadKind.REGISTERS,
            f"{programming.options.read_command} x {len(command)}",
            seconds,
            True,
            "only signals read by command are due",
            None,
        )
    return [dataclasses.replace(a, plan=variant(plan, due, a, access_denied)) for a in found]


def _list_alternative(
    line: _Line,
    listed: ListRequest,
    due_tags: set[str],
    size: ReadSize | None,
    after: float,
    why_after: str,
) -> Alternative:
    request = f"{listed.start}{line.options.address}!"
    missing = sorted(due_tags - listed.tags)
    if not due_tags:
        why = "no readout signal is due"
        return Alternative(ReadKind.LIST, request, None, False, why, request_start=listed.start)
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        why = f"does not hold {shown}"
        return Alternative(ReadKind.LIST, request, None, False, why, request_start=listed.start)
    recorded = None if size is None else size.list_bytes(listed.start)
    if recorded is not None:
        data = float(recorded)
        basis = f"last answer {recorded} bytes"
    else:
        per_line = size.line_bytes if size is not None else 20.0
        data = 6 + per_line * len(listed.tags)
        basis = f"{len(listed.tags)} lines of about {per_line:.0f} bytes (not read yet)"
    seconds = line.readout(listed.start, data) + after
    return Alternative(
        ReadKind.LIST, request, seconds, True, basis + why_after, request_start=listed.start
    )


def choose(found: Sequence[Alternative], *, sized: bool = True) -> Alternative:
    """The cheapest usable alternative (the first, the readout, on a tie or when nothing
    is estimated).

    Args:
        found: the alternatives (:func:`alternatives`).
        sized: whether the device's readout size is known; without it the readout's
            estimate is only a lower bound, so the readout is taken when it is usable
            (and records the size for the next polls).

    Raises:
        ValueError: none is usable (only signals read by command are due and the
            password was refused).
    """
    usable = [a for a in found if a.usable]
    if not usable:
        raise ValueError("no way to read the due signals")
    best = usable[0]
    if not sized and best.kind is ReadKind.READOUT:
        return best
    for candidate in usable[1:]:
        if (
            candidate.seconds is not None
            and best.seconds is not None
            and candidate.seconds < best.seconds
        ):
            best = candidate
    return best


def variant(
    plan: DevicePlan,
    due: Sequence[SignalPlan],
    choice: Alternative,
    access_denied: bool = False,
) -> DevicePlan | None:
    """The plan that reads ``due`` with ``choice`` (``None`` when it is not usable).

    The device's own plan when everything is due and the readout is chosen; else a
    copy with the due signals and the chosen request.
    """
    if not choice.usable:
        return None
    due = tuple(due)
    everything = due == plan.signals
    if choice.kind is ReadKind.ASSOCIATION:
        dlms = plan.dlms
        if everything or dlms is None:
            return plan
        tags = {s.tag for s in due}
        objects = tuple(o for o in dlms.objects if _object_tag(o.obis, o.attribute) in tags)
        return dataclasses.replace(
            plan, signals=due, dlms=dataclasses.replace(dlms, objects=objects)
        )
    programming = None if access_denied else plan.programming
    if choice.kind is ReadKind.REGISTERS:
        registers = plan.registers if plan.registers is not None else programming
        return dataclasses.replace(
            plan,
            signals=tuple(
                s if s.by_command else dataclasses.replace(s, by_command=True) for s in due
            ),
            programming=registers,
        )
    commands = any(s.by_command for s in due)
    programming = programming if commands else None
    if choice.kind is ReadKind.LIST:
        options = dataclasses.replace(plan.options, request_start=choice.request_start)
        return dataclasses.replace(plan, signals=due, options=options, programming=programming)
    if everything and programming is plan.programming:
        return plan
    if not commands:
        due = tuple(s for s in due if not s.by_command)
    return dataclasses.replace(plan, signals=due, programming=programming)


def _object_tag(obis: object, attribute: int) -> str:
    return str(obis) if attribute == 2 else f"{obis}/{attribute}"


def record_size(
    previous: ReadSize | None,
    readout: Readout,
    options: ReadoutOptions,
    kind: ReadKind,
) -> ReadSize | None:
    """The device's size record after a good ``readout`` of ``kind`` (``previous`` when
    nothing changed, ``None`` when there is nothing to record).

    Cheap when nothing changed: the data sets are counted, their bytes summed only when
    the count differs from the record's.
    """
    if kind is ReadKind.READOUT:
        if previous is not None and previous.datasets == len(readout.datasets):
            return previous
        ident = readout.identification
        text = "" if ident is None else ident.to_bytes().decode("latin-1").rstrip("\r\n")
        lists = () if previous is None else previous.lists
        return ReadSize(
            readout_bytes(readout.datasets),
            len(readout.datasets),
            data_baud(options, ident),
            text,
            lists,
        )
    if kind is ReadKind.LIST and previous is not None:
        start = options.request_start
        size = readout_bytes(readout.datasets)
        return previous if previous.list_bytes(start) == size else previous.with_list(start, size)
    return previous


class DevicePlanner:
    """The chosen read of one device for each set of due rate groups, kept until the
    size of its last readout (or its password's fate) changes.

    Args:
        plan: the device's plan; its rate groups are :attr:`DevicePlan.rate_periods`.
    """

    __slots__ = ("_cache", "_denied", "_group_of", "_size", "plan")

    def __init__(self, plan: DevicePlan) -> None:
        self.plan = plan
        index = {period: group for group, period in enumerate(plan.rate_periods)}
        own = plan.scan_rate_s
        self._group_of = tuple(
            index[own if s.scan_rate_s is None else s.scan_rate_s] for s in plan.signals
        )
        self._cache: dict[int, Alternative | None] = {}
        self._size: ReadSize | None = None
        self._denied = False

    def due(self, groups: int) -> tuple[SignalPlan, ...]:
        """The signals of the rate groups ``groups`` (a mask), in the plan's order."""
        return tuple(
            s for s, g in zip(self.plan.signals, self._group_of, strict=True) if groups >> g & 1
        )

    def choice(self, groups: int, size: ReadSize | None, access_denied: bool) -> Alternative | None:
        """The cheapest read of the signals of ``groups`` (``None``: nothing can read them,
        e.g. only signals read by command are due and the password was refused)."""
        if size is not self._size or access_denied != self._denied:
            self._cache.clear()
            self._size, self._denied = size, access_denied
        try:
            return self._cache[groups]
        except KeyError:
            pass
        found = alternatives(self.plan, self.due(groups), size, access_denied=access_denied)
        try:
            chosen: Alternative | None = choose(found, sized=size is not None)
        except ValueError:
            chosen = None
        self._cache[groups] = chosen
        return chosen
