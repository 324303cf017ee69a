"""Why the eBPF sensor cannot start: one exception per cause, each a one-line message that says
what to do."""

from __future__ import annotations


class SensorError(Exception):
    """The sensor cannot start or run; ``str()`` is the one-line message for the user."""


class NotPrivileged(SensorError):
    pass


class NoBtf(SensorError):
    pass


class ObjectMissing(SensorError):
    pass


class ObjectMismatch(SensorError):
    pass


class BpfRefused(SensorError):
    pass


class TracefsMissing(SensorError):
    pass


class LibbpfUnavailable(SensorError):
    pass
