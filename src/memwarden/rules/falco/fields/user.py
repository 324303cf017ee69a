"""``user.*`` and ``group.*``: the user of an event, names from this host's passwd (cached).
"""

from __future__ import annotations

import grp
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

_T = "the process table (the probe reads it at exec; /proc at seeding)"
_UNSET = 4294967295  # (uid_t)-1: no login uid


@lru_cache(maxsize=4096)
def _group(gid: int) -> grp.struct_group | None:
    try:
        return grp.getgrgid(gid)
    except (KeyError, OverflowError, ValueError):
        return None


def _loginuid(ev: Event) -> Any:
    """Falco shows an unset login uid as -1."""
    proc = ev.process
    v = proc.loginuid if proc is not None else None
    if v is None:
        return None
    return -1 if v in (_UNSET, -1) else v


def _loginname(ev: Event) -> Any:
    """<NA> for an unset login uid, as Falco prints it."""
    v = _loginuid(ev)
    if v is None or v == -1:
        return None
    pw = _passwd(v)
    return pw.pw_name if pw is not None else None


def _gid(ev: Event) -> Any:
    proc = ev.process
    return proc.gid if proc is not None else None


def _group_name(ev: Event) -> Any:
    gid = _gid(ev)
    if gid is None:
        return None
    g = _group(gid)
    return g.gr_name if g is not None else None


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
    FieldSpec("user.loginuid", NUMBER, "audit login uid (-1: unset)", make=fixed(_loginuid),
              source=_T),
    FieldSpec("user.loginname", STRING, "name of the login uid (<NA> when unset, as Falco)",
              make=fixed(_loginname), source=_T + " via getpwuid"),
    FieldSpec("group.gid", NUMBER, "group id", make=fixed(_gid), source=_T),
    FieldSpec("group.name", STRING, "group name (this host's group file)",
              make=fixed(_group_name), source=_T + " via getgrgid"),
]

#: user and group fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = []
