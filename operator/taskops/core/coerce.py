"""Reading fields of API objects that may be missing or of the wrong type.

The core never raises on a malformed object: a field of the wrong type reads
as absent. Each helper is named for what it accepts; they differ on purpose
(a label value is a string, a status count an int), so pick by the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    """`value` itself if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def as_list_or_tuple(value: object) -> list[Any]:
    """A new list of the items of a list or tuple `value`, else an empty list."""
    return list(value) if isinstance(value, list | tuple) else []


def as_non_empty_str(value: object) -> str | None:
    """`value` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def digits_as_int(value: object) -> int | None:
    """The number a string of ASCII digits spells (a label value, a map key), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def as_non_negative_int(value: object) -> int | None:
    """A non-negative int (not a bool) or a string of ASCII digits as an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    return digits_as_int(value)


def as_count(value: object) -> int:
    """A non-negative int (not a bool, not a string), else 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
