"""The `memwarden simulate` scenario of ``core_dump_tampering``: create, rename, hard-link and
unlink in a tmpfs standing in for the store: one finding per operation.

The action runs in its own actor process (``python -m memwarden.simulate.actors
core_dump_tampering``); the plan turns its report into the findings that must and must not
arrive.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.simulate.actor_helpers import COREDUMP_DIR, private_mount_namespace, sandbox_dir
from memwarden.simulate.expect import Expect, Plan


def act() -> dict[str, Any]:
    """Create, rename, hard-link and unlink files in a tmpfs standing in for the store."""
    pid = os.getpid()
    private_mount_namespace()
    store = sandbox_dir(COREDUMP_DIR)
    created = store / f"core.memwarden-simulate.{pid}"
    fd = os.open(created, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"planted\n")
    os.close(fd)
    renamed = store / f"core.memwarden-simulate.{pid}.renamed"
    os.rename(created, renamed)
    linked = store / f"core.memwarden-simulate.{pid}.link"
    os.link(renamed, linked)
    os.unlink(linked)
    os.unlink(renamed)
    return {"pid": pid, "created": str(created), "renamed": str(renamed), "linked": str(linked)}


def plan(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    return Plan(
        (Expect("core_dump_tampering", pid, {"operation": "write", "path": r["created"]},
                "file created in the store"),
         Expect("core_dump_tampering", pid, {"operation": "rename"}, "rename in the store"),
         Expect("core_dump_tampering", pid, {"operation": "link"}, "hard link in the store"),
         Expect("core_dump_tampering", pid, {"operation": "unlink", "path": r["linked"]},
                "unlink of the link"),
         Expect("core_dump_tampering", pid, {"operation": "unlink", "path": r["renamed"]},
                "unlink of the file")),
        note="store on a tmpfs in a private mount namespace")
