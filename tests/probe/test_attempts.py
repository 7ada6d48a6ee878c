"""The order of the probe's attempts, and how it adapts to what a try showed."""

from __future__ import annotations

from obisgate.probe import Attempt, AttemptPlanner, Diagnosis, Finding
from obisgate.protocol.identification import Identification

ZMD = Identification.parse("/LGZ4ZMF100AC.M23")


def labels(planner: AttemptPlanner, count: int = 50) -> list[str]:
    out: list[str] = []
    while len(out) < count and (attempt := planner.next()) is not None:
        out.append(attempt.label)
    return out


def test_serial_order_without_an_address() -> None:
    assert labels(AttemptPlanner(network=False, address="")) == [
        "7E1, /?!",
        "7E1, NUL wake-up, /?!",
        "7E1, /2!",
        "7E1, NUL wake-up, /2!",
        "7E1, /#!",
        "7E1, NUL wake-up, /#!",
        "8N1 + software parity, /?!",
        "8N1 + software parity, NUL wake-up, /?!",
        "8N1, /?!",
        "8N1, NUL wake-up, /?!",
    ]


def test_tcp_order_with_an_address() -> None:
    assert labels(AttemptPlanner(network=True, address="123")) == [
        "7E1, /?123!",
        "7E1, NUL wake-up, /?123!",
        "7E1, /?!",  # the general address: only if the given one was wrong
        "7E1, NUL wake-up, /?!",
        "software parity, /?123!",
        "software parity, NUL wake-up, /?123!",
        "7E1, /2123!",
        "7E1, NUL wake-up, /2123!",
        "7E1, /#123!",
        "7E1, NUL wake-up, /#123!",
    ]


def test_settings_given_by_the_user_are_never_tried_otherwise() -> None:
    planner = AttemptPlanner(network=True, address="", fixed={"software_parity", "wakeup"})
    assert labels(planner) == ["7E1, /?!", "7E1, /2!", "7E1, /#!"]


def test_an_identification_brings_the_settings_after_it_first() -> None:
    planner = AttemptPlanner(network=False, address="")
    first = planner.next()
    assert first is not None
    planner.learn(first, Diagnosis(Finding.GARBLED, "", ZMD, answered=True))
    assert labels(planner, 5) == [
        "7E1, /?!, baud change delay 500 ms",
        "7E1, /?!, no baud switch",
        "7E1, /?!, mode A",
        "7E1, /?!, baud change delay 500 ms, acknowledge after 1000 ms",
        "7E1, NUL wake-up, /?!",  # then the first steps go on
    ]


def test_over_a_converter_no_delay_is_tried() -> None:
    planner = AttemptPlanner(network=True, address="")
    first = planner.next()
    assert first is not None
    planner.learn(first, Diagnosis(Finding.GARBLED, "", ZMD, answered=True))
    assert labels(planner, 3) == [
        "7E1, /?!, no baud switch",
        "7E1, /?!, mode A",
        "7E1, /?!, no baud switch, acknowledge after 1000 ms",
    ]


def test_what_follows_depends_on_the_finding() -> None:
    for finding, expected in (
        (Finding.MODE_A, ["7E1, /?!, mode A", "7E1, /?!, no baud switch"]),
        (Finding.CHECKSUM, ["7E1, /?!, 3 repeat requests", "7E1, /?!, 7-bit sum checksum"]),
    ):
        planner = AttemptPlanner(network=False, address="")
        first = planner.next()
        assert first is not None
        planner.learn(first, Diagnosis(finding, "", ZMD, answered=True))
        assert labels(planner, 2) == expected


def test_the_parity_bit_in_bit_7_brings_software_parity_first() -> None:
    planner = AttemptPlanner(network=True, address="")
    first = planner.next()
    assert first is not None
    planner.learn(first, Diagnosis(Finding.PARITY, "", ZMD, bit7=True, answered=True))
    assert labels(planner, 2) == ["software parity, /?!", "7E1, /?!, no baud switch"]


def test_settings_after_an_identification_are_planned_once_per_attempt() -> None:
    planner = AttemptPlanner(network=True, address="")
    first = planner.next()
    assert first is not None
    diagnosis = Diagnosis(Finding.NO_DATA, "", ZMD, answered=True)
    planner.learn(first, diagnosis)
    planner.learn(first, diagnosis)
    following = labels(planner)
    assert following.count("7E1, /?!, mode A") == 1


def test_an_attempt_is_settings_plus_the_address() -> None:
    attempt = Attempt.of({"wakeup": 66, "request_start": "/#"}, "42")
    assert attempt.request == "/#42!"
    assert attempt.as_dict == {"request_start": "/#", "wakeup": 66}
    assert attempt.plus({"switch_baud": False}).label == "7E1, NUL wake-up, /#42!, no baud switch"
