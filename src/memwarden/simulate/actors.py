"""The entry point of the actor processes behind ``memwarden simulate``: every action runs in
a process of its own, ``python -m memwarden.simulate.actors ACTION``, so that its pid, its mount
namespace and its victims are its own and die with it.

The actions themselves live with their plans, one module per signature
(``memwarden.simulate.scenarios.<name>``, found by discovery); their shared helpers in
``memwarden.simulate.actor_helpers``. This module only runs one and prints one JSON line (its
last line on stdout) saying what it did: ``{"pid": ..., ...}``, or ``{"skip": "why"}`` when the
host does not allow the action to be done safely, or ``{"error": "what failed"}`` (exit status
1); an unknown ACTION is a usage error (exit status 2).

Standard library only, and nothing is imported from memwarden outside ``simulate``: actors
start fast.
"""

from __future__ import annotations

import json
import sys

from memwarden.simulate.actor_helpers import ActionError, Skip
from memwarden.simulate.scenarios import ACTIONS

__all__ = ["ACTIONS", "main"]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ACTIONS:
        print(json.dumps({"error": f"usage: actors ACTION (one of {', '.join(ACTIONS)})"}))
        return 2
    try:
        result = ACTIONS[argv[0]]()
    except Skip as exc:
        result, status = {"skip": str(exc)}, 0
    except (ActionError, OSError) as exc:
        result, status = {"error": str(exc)}, 1
    else:
        status = 0
    print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
