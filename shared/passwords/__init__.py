"""The bundled list of common passwords (common.txt here) that the password policy refuses
(shared.domain.passwords): where it came from is said at the top of the file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["COMMON_PASSWORDS_FILE", "common_passwords"]

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common.txt")


@cache
def common_passwords() -> frozenset[str]:
    """The common passwords, case-folded; read once per process."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))
