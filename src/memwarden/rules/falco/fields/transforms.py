"""Falco's transformers (``tolower(proc.name)``, ``len(...)``): the functions, and the type
of what each returns (a check on ``len(...)`` is a number check)."""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable
from typing import Any

from memwarden.rules.falco.fields.base import (
    NUMBER,
    STRING,
)


def _transform_b64(v: str) -> Any:
    try:
        return base64.b64decode(v, validate=False).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return None


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "tolower": lambda v: v.lower() if isinstance(v, str) else None,
    "toupper": lambda v: v.upper() if isinstance(v, str) else None,
    "basename": lambda v: posixpath.basename(v) if isinstance(v, str) else None,
    "b64": lambda v: _transform_b64(v) if isinstance(v, str) else None,
    "len": lambda v: len(v) if isinstance(v, str | list) else None,
}
TRANSFORM_TYPES = {"tolower": STRING, "toupper": STRING, "basename": STRING, "b64": STRING,
                   "len": NUMBER}
