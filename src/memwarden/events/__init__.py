"""The event catalogue (one table of every event: arguments and types, path arguments, eBPF
kind, audit syscalls, Falco evt.type) and the Tracee JSON codecs."""
