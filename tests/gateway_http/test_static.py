"""The vendored web files are exactly the ones recorded in NOTICE.md (version, licence, sha256)."""

from __future__ import annotations

import hashlib
import re

import pytest

from obisgate.gateway.outputs.http.page import WEB_DIR

STATIC = WEB_DIR / "static"
NOTICE = (STATIC / "NOTICE.md").read_text(encoding="utf-8")
ROWS = re.findall(
    r"^\| `([^`]+)` \| [^|]+ \| ([0-9.]+) \| ([^|]+) \| `([0-9a-f]{64})` \|$", NOTICE, re.M
)


def test_the_notice_lists_both_uplot_files() -> None:
    assert [(name, version) for name, version, _, _ in ROWS] == [
        ("uPlot.iife.min.js", "1.6.32"),
        ("uPlot.min.css", "1.6.32"),
    ]


@pytest.mark.parametrize(("name", "version", "licence", "sha256"), ROWS)
def test_each_vendored_file_matches_its_recorded_checksum(
    name: str, version: str, licence: str, sha256: str
) -> None:
    data = (STATIC / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert licence.strip().startswith("MIT")
    if name.endswith(".js"):
        assert data.startswith(f"/*! https://github.com/leeoniya/uPlot (v{version}) */".encode())


def test_the_licence_text_ships_with_the_files() -> None:
    text = (STATIC / "uPlot.LICENSE").read_text(encoding="utf-8")
    assert text.startswith("The MIT License (MIT)")
    assert "Copyright (c) 2022 Leon Sorokin" in text
    assert "Permission is hereby granted, free of charge" in text


def test_the_page_and_the_view_load_nothing_from_elsewhere() -> None:
    for name in ("page.html", "static/view.js", "static/view.css"):
        text = (WEB_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
