"""Quality flags and their JSON form."""

from __future__ import annotations

import pytest

from obisgate.gateway.quality import Quality


@pytest.mark.parametrize(
    ("quality", "names"),
    [
        (Quality.VALID, ["valid"]),
        (Quality.INVALID, ["invalid"]),
        (Quality.NOT_TOPICAL, ["not_topical"]),
        (Quality.OVERFLOW, ["overflow"]),
        (Quality.NOT_TOPICAL | Quality.INVALID, ["invalid", "not_topical"]),
        (Quality.OVERFLOW | Quality.NOT_TOPICAL, ["not_topical", "overflow"]),
    ],
)
def test_json_round_trip(quality: Quality, names: list[str]) -> None:
    assert quality.to_json() == names
    assert Quality.from_json(names) is quality


def test_valid_means_no_flag() -> None:
    assert Quality.VALID.is_valid
    assert Quality(0) is Quality.VALID
    assert not Quality.INVALID.is_valid
    assert not (Quality.INVALID | Quality.OVERFLOW).is_valid
    assert Quality.from_json([]) is Quality.VALID
    assert Quality.from_json(["valid", "Overflow "]) is Quality.OVERFLOW


def test_unknown_name_is_rejected_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="allowed: valid, invalid, not_topical, overflow"):
        Quality.from_json(["stale"])


def test_bits_are_stable() -> None:
    # stored in the history database: never renumber
    assert [q.value for q in (Quality.INVALID, Quality.NOT_TOPICAL, Quality.OVERFLOW)] == [1, 2, 4]
