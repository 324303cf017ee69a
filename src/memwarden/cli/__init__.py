"""The memwarden command: argument parsing only, one module per command group.

:func:`main` is the click group (:mod:`memwarden.cli.group`); importing each command module
below adds its commands to it (a new command group: its module and one line here). What the
commands do beyond parsing lives in :mod:`memwarden.app`.
"""

from memwarden.cli import (  # noqa: F401 - importing a command module registers its commands
    bench,
    config,
    detect,
    doctor,
    export,
    rules,
    signatures,
    simulate,
    ui,
)
from memwarden.cli.group import main

__all__ = ["main"]
