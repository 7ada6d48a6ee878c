"""TOML rows of a gateway configuration, for tests that poll simulated meters fast."""

from __future__ import annotations


def device(alias: str, where: str, address: str, mode: str, extra: str = "") -> str:
    """A ``[[devices]]`` row polled every 300 ms, no retries; ``where`` is its connection."""
    return (
        f'[[devices]]\ndevice_alias = "{alias}"\n{where}\nserialnumber = "{address}"\n'
        f'type = "{mode}"\nscan_rate_ms = 300\npoll_delay_ms = 0\nserial_close_delay = 0\n'
        f"timeout_ms = 800\nretries = 0\n{extra}\n"
    )


def signal_(alias: str, name: str, tag: str, ntype: str = "FLOAT", extra: str = "") -> str:
    """A ``[[signals]]`` row."""
    return (
        f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "{name}"\n'
        f'tag_job_todo = "{tag}"\nnumber_type = "{ntype}"\n{extra}\n'
    )
