"""Recipes in the sans-IO core: what changes after the identification, shown by the actions."""

from __future__ import annotations

import pytest

from obisgate.errors import ConfigError
from obisgate.protocol.actions import Drain, RecipesApplied, Send, SetBaud, Sleep
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.programming_client import ProgrammingClient, ProgrammingOptions
from obisgate.protocol.recipes import Recipe, RecipeRules
from tests.helpers import frame

ZMD120 = b"/LGZ4\\2ZMD120APt.G03\r\n"  # pwitab/iec62056-21#33
NO_SWITCH = Recipe("lgz-zmd120", "LGZ", "ZMD120", (("switch_baud", False),))
FAST = Recipe("lower-case-third-letter", "[A-Za-z]{2}[a-z]", "", (("reaction_time_s", 0.02),))
DELAY = Recipe("slow-switch", "LGZ", "", (("baud_change_delay_s", 0.5),))
DATA = frame(b"1.8.0(000042.5*kWh)\r\n!\r\n")


def after_identification(
    ident: bytes, rules: RecipeRules | None, options: ReadoutOptions | None = None
) -> tuple[ReadoutClient, list[object]]:
    client = ReadoutClient(options or ReadoutOptions(), rules)
    client.start()
    return client, list(client.receive_data(ident))


def test_a_matching_recipe_changes_what_follows_the_identification() -> None:
    client, actions = after_identification(ZMD120, RecipeRules((NO_SWITCH,)))
    assert actions == [Sleep(0.2), Send(b"\x06000\r\n"), Drain()]  # no switch: rate 0
    assert client.recipes == ("lgz-zmd120",)
    assert client.events[-1] == RecipesApplied(("lgz-zmd120",), (("switch_baud", False),))
    client.receive_data(DATA)
    assert client.result is not None
    assert client.result.recipes == ("lgz-zmd120",)
    assert client.result.baud == 300


def test_without_rules_nothing_changes() -> None:
    client, actions = after_identification(ZMD120, None)
    assert actions == [Sleep(0.2), Send(b"\x06040\r\n"), Drain(), SetBaud(4800)]
    assert client.recipes == ()


def test_a_recipe_never_changes_an_explicit_setting() -> None:
    keep = frozenset({"switch_baud"})
    client, actions = after_identification(ZMD120, RecipeRules((NO_SWITCH,), keep=keep))
    assert actions == [Sleep(0.2), Send(b"\x06040\r\n"), Drain(), SetBaud(4800)]
    assert client.recipes == ("lgz-zmd120",)
    assert client.events[-1] == RecipesApplied(("lgz-zmd120",), (), ("switch_baud",))


def test_a_baud_change_delay_recipe_adds_the_wait_before_the_switch() -> None:
    _, actions = after_identification(ZMD120, RecipeRules((DELAY,)))
    assert actions == [Sleep(0.2), Send(b"\x06040\r\n"), Drain(), Sleep(0.5), SetBaud(4800)]


def test_every_matching_recipe_applies_and_a_later_one_wins() -> None:
    later = Recipe("mine", "LGZ", "ZMD", (("switch_baud", True), ("baud_change_delay_s", 0.4)))
    client, actions = after_identification(ZMD120, RecipeRules((NO_SWITCH, DELAY, later)))
    assert client.recipes == ("lgz-zmd120", "slow-switch", "mine")
    assert actions == [Sleep(0.2), Send(b"\x06040\r\n"), Drain(), Sleep(0.4), SetBaud(4800)]


def test_a_recipe_that_does_not_match_is_not_applied() -> None:
    client, actions = after_identification(b"/LGZ5ZMD410\r\n", RecipeRules((NO_SWITCH,)))
    assert SetBaud(9600) in actions
    assert client.recipes == ()
    assert not any(isinstance(e, RecipesApplied) for e in client.events)


def test_a_forced_recipe_applies_whatever_the_identification() -> None:
    client, actions = after_identification(b"/ABC5METER\r\n", RecipeRules(forced=NO_SWITCH))
    assert actions == [Sleep(0.2), Send(b"\x06000\r\n"), Drain()]
    assert client.recipes == ("lgz-zmd120",)


@pytest.mark.parametrize(
    ("rules", "options", "delay"),
    [
        (RecipeRules((FAST,)), ReadoutOptions(), 0.02),  # the table's lower-case rule
        (RecipeRules((FAST,), keep=frozenset({"reaction_time_s"})), ReadoutOptions(), 0.2),
        (RecipeRules(), ReadoutOptions(), 0.2),  # recipes off: no 20 ms either
        (None, ReadoutOptions(), 0.02),  # a library user without rules: the standard's rule
        (None, ReadoutOptions(honour_fast_reaction=False), 0.2),
    ],
)
def test_the_lower_case_rule(
    rules: RecipeRules | None, options: ReadoutOptions, delay: float
) -> None:
    _, actions = after_identification(b"/ISk5MT174-0001\r\n", rules, options)
    assert actions[0] == Sleep(delay)


def test_a_recipe_can_change_the_mode_and_the_checksum_method() -> None:
    recipe = Recipe("gost", "EKT", "", (("mode", ProtocolMode.A), ("bcc_method", "sum7")))
    client, actions = after_identification(b"/EKT5CE301v12\r\n", RecipeRules((recipe,)))
    assert actions == []  # mode A: no acknowledgement, wait for the data at 300 Bd
    client.receive_data(frame(b"SNUMB(1)\r\n!\r\n", method="sum7"))
    assert client.result is not None
    assert client.result.mode is ProtocolMode.A


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (lambda: Recipe("x", "[", ""), "manufacturer pattern"),
        (lambda: Recipe("x", "ABC", "(", ()), "model pattern"),
        (lambda: Recipe("x", "ABC", "", (("wakeup_nuls", 40),)), "cannot change after"),
    ],
)
def test_bad_recipes_are_refused(recipe: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        recipe()  # type: ignore[operator]


def test_matching_is_on_the_three_letters_and_the_start_of_the_model() -> None:
    ident = Identification.parse("/LGZ4\\2ZMD120APt.G03")
    assert NO_SWITCH.matches(ident)
    assert not Recipe("x", "LG", "").matches(ident)  # the whole three letters
    assert not Recipe("x", "LGZ", "120").matches(ident)  # the model's start
    assert Recipe("x", "L.Z", "ZMD1[0-9]0").matches(ident)


def test_a_programming_session_takes_the_read_command_of_a_recipe() -> None:
    emh = Recipe("emh-r5", "EMH", "", (("read_command", "R5"),))
    for rules, command in (
        (RecipeRules((emh,)), "R5"),
        (RecipeRules((emh,), keep=frozenset({"read_command"})), "R1"),
    ):
        client = ProgrammingClient(ProgrammingOptions(), rules=rules)
        client.start()
        client.receive_data(b"/EMH5LZQJ\r\n")
        client.receive_data(b"\x01P0\x02()\x03\x60")
        assert client.ready
        sent = [a for a in client.read("1.8.0") if isinstance(a, Send)]
        assert sent[0].data.startswith(b"\x01" + command.encode())
