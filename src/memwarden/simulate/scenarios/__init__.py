"""The simulate scenarios, one module per signature, found by discovery.

``scenarios/<event_name>.py`` holds everything `memwarden simulate` knows about one signature,
so that adding a signature adds one file here and edits no table:

- ``act() -> dict``: the real action, run in an actor process of its own
  (``python -m memwarden.simulate.actors <event_name>``). Its docstring is what
  ``memwarden simulate --list`` shows. It returns its report, ``{"pid": ..., ...}``: what it
  did, to which pids and paths; it raises :class:`~memwarden.simulate.actor_helpers.Skip` when
  the host does not allow it to be done safely, and
  :class:`~memwarden.simulate.actor_helpers.ActionError` when it failed.
- ``plan(report) -> Plan``: from that report to the findings that must arrive and the near
  misses that must not (:mod:`memwarden.simulate.expect`).

The module's name is the signature's event name: that is how the harness, the CLI and the tests
pair a scenario with its signature.

Safety rules kept by every action (helpers in :mod:`memwarden.simulate.actor_helpers`):
- files are only created on a tmpfs mounted in a private mount namespace of the actor
  (``/var/lib/systemd/coredump``, ``/proc`` for a fake kcore, ``/dev`` for a fake /dev/mem,
  the dump directory of a file core_pattern); the mounts vanish with the actor, so real core
  dumps and real files are never touched;
- victims are children of the actor that die with it (PR_SET_PDEATHSIG): a ``sleep`` or a small
  Python process holding a marker buffer; memory "writes" put back the bytes already there;
- settings (core_pattern, core_uses_pid, suid_dumpable) are opened for writing and closed
  without a write, which is what the signature sees and changes nothing;
- no global setting is changed: a dump is only forced when core_pattern names a file (then it
  lands in the actor's tmpfs); with a pipe handler the action is skipped.

Standard library only, and nothing is imported from memwarden outside ``simulate``: the actor
processes import this package, and they start fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

from memwarden.simulate.expect import Expect, Plan, finding_args

__all__ = ["ACTIONS", "PLANS", "SCENARIOS", "Expect", "Plan", "ScenarioError", "finding_args"]


class ScenarioError(ImportError):
    """A scenario module lacks ``act`` or ``plan``."""


def discover() -> dict[str, ModuleType]:
    """Every scenario module of this package, by name (= the signature's event name)."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [n for n in ("act", "plan") if not callable(getattr(module, n, None))]
        if missing:
            raise ScenarioError(
                f"{module.__file__}: a simulate scenario defines act() (the action, returning "
                f"its report) and plan(report) (the findings it must and must not raise); "
                f"missing: {', '.join(missing)}")
        found[info.name] = module
    return found


#: scenario name (the signature's event name) → its module.
SCENARIOS: dict[str, ModuleType] = discover()

#: signature event name → the plan for its actor's report (the actor has the same name).
PLANS: dict[str, Callable[[dict[str, Any]], Plan]] = {
    name: module.plan for name, module in SCENARIOS.items()}

#: signature event name → the action its actor process performs.
ACTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    name: module.act for name, module in SCENARIOS.items()}
