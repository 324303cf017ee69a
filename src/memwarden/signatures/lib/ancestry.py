"""How the process behind an event is related to the process it acts on, through the process
table (``Event.process``): a debugger signalling its own child, or a parent reading its
child's memory, is a different story from an unrelated process doing the same."""

from __future__ import annotations

from memwarden.core.event import Event

#: relation names, from the acting process's side
PARENT, ANCESTOR, CHILD, DESCENDANT, UNRELATED = ("parent", "ancestor", "child", "descendant",
                                                  "unrelated")


def relation(event: Event, target_pid: int) -> str | None:
    """The acting process's relation to ``target_pid`` (a pid in the actor's pid namespace);
    None when no process table knows both, or the pid cannot be compared with host pids."""
    actor = event.process
    if actor is None or actor.peers is None or target_pid <= 0:
        return None
    if event.pid != event.host_pid:  # a pid namespace: the table is keyed by host pids
        return None
    target = actor.peers(target_pid)
    if target is None or target is actor:
        return None
    for level, p in enumerate(target.ancestors(), 1):
        if p is actor:
            return PARENT if level == 1 else ANCESTOR
    for level, p in enumerate(actor.ancestors(), 1):
        if p is target:
            return CHILD if level == 1 else DESCENDANT
    return UNRELATED
