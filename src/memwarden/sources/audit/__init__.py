"""Linux audit as an event source: auditd logs (replay, follow), audisp plugin input, and the
kernel's audit netlink multicast stream. See ``docs/audit.md``."""
