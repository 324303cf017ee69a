"""The error of assembly: a runtime cannot be put together from valid settings (an output that
cannot be opened, a rules or allowlist file that does not load, a metrics port taken). The
command line prints it as ``memwarden: message`` (exit 2); a reload reports it and keeps the
running configuration. Settings that cannot be read are :class:`~memwarden.app.settings.
ConfigError`."""

from __future__ import annotations


class AssemblyError(Exception):
    """The message names the file, flag or output at fault."""
