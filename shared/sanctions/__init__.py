"""The bundled sanctions sample (see README.md here): the list `paystream sanctions refresh`
loads when it is given no other."""

from pathlib import Path

__all__ = ["BUNDLED_LIST_DIR"]

BUNDLED_LIST_DIR = Path(__file__).parent
