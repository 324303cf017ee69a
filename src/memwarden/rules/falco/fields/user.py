"""``user.*`` and ``group.*``: the user of an event, names from this host's passwd (cached).
"""

from __future__ import annotations

import pwd
from functools import lru_cache
from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.fields.base import (
    NUMBER,
    STRING,
    FieldSpec,
    Getter,
    ctx_int,
    fixed,
)

_NO_LOGIN = "memwarden events carry no audit login uid"
_NO_GID = "memwarden events carry no group id"


@lru_cache(maxsize=4096)
def _passwd(uid: int) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(uid)
    except (KeyError, OverflowError, ValueError):
        return None


def _pw(attr: str) -> Getter:
    def get(ev: Event) -> Any:
        uid = ev.data.get("userId")
        if type(uid) is not int:
            return None
        pw = _passwd(uid)
        return getattr(pw, attr) if pw is not None else None
    return get


FILLED: list[FieldSpec] = [
    FieldSpec("user.uid", NUMBER, "user id", make=fixed(ctx_int("userId")), source="userId"),
    FieldSpec("user.name", STRING, "user name (this host's passwd)",
              make=fixed(_pw("pw_name")), source="userId via getpwuid (cached)"),
    FieldSpec("user.homedir", STRING, "home directory (this host's passwd)",
              make=fixed(_pw("pw_dir")), source="userId via getpwuid (cached)"),
    FieldSpec("user.shell", STRING, "login shell (this host's passwd)",
              make=fixed(_pw("pw_shell")), source="userId via getpwuid (cached)"),
]

#: user and group fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
    ("user.loginuid", NUMBER, "none", _NO_LOGIN),
    ("user.loginname", STRING, "none", _NO_LOGIN),
    ("group.gid", NUMBER, "none", _NO_GID),
    ("group.name", STRING, "none", _NO_GID),
]
