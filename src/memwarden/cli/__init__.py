"""The memwarden command: argument parsing only, one module per command group."""

from memwarden.cli.commands import main

__all__ = ["main"]
