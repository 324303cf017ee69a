"""The index page of the signature manual: every signature in a table, and how the seeds'
detections were cut into signatures."""

from __future__ import annotations

#: Why the pack is cut the way it is (rendered under "HOW THE SEEDS MAP TO SIGNATURES").
PACK_NOTES: tuple[tuple[str, str], ...] = (
    ("One signature per question a responder asks",
     "A signature answers one question with one severity and one ATT&CK technique. Where the "
     "same question can be asked of several events (is someone changing the core dump store? "
     "an open for writing, an unlink, a rename, a link), that is one signature selecting "
     "several events. Where the question differs (was memory read, or written?), it is two "
     "signatures, even on the same event."),
    ("Seed 004, three detections",
     "The Falco rule (reads in /var/lib/systemd/coredump/ and of /proc/*/coredump_filter) is "
     "core_dump_read. The auditd rule (opens for writing, renames, unlinks and links in the "
     "store) is core_dump_tampering. The validation (kill -s SIGSEGV) gives two signatures: "
     "core_dump_signal for the signal sent to another process, and process_core_dumped for "
     "the dump itself, which names the sender when core_dump_signal's event was seen."),
    ("Configuration",
     "Writes of core_pattern, core_uses_pid, suid_dumpable and another process's "
     "coredump_filter are one signature under Tracee's ID and name, "
     "core_pattern_modification (TRC-1011), widened from Tracee's core_pattern-in-containers "
     "scope."),
    ("Process memory",
     "Tracee's IDs and names are kept where Tracee has the signature: proc_mem_access "
     "(TRC-1023, /proc/<pid>/mem read), proc_mem_code_injection (TRC-1024, written) and "
     "process_vm_write_inject (TRC-1025, process_vm_writev). The read direction of "
     "process_vm_readv (process_vm_read) and ptrace attach/peek/poke (ptrace_memory_access) "
     "have memwarden IDs. All of them ignore a process touching its own memory."),
    ("Raw memory",
     "/proc/kcore is Tracee's proc_kcore_read (TRC-1021); /dev/mem, /dev/kmem and /dev/port "
     "are raw_memory_device_access."),
    ("Exemptions",
     "Known-good programs are exempted by the allowlist (defaults in "
     "memwarden/data/allowlist.yaml, user files with --allowlist), not inside the "
     "signatures, so that every exemption is visible in `memwarden signatures show NAME`."),
)


#: The allowlist file format (rendered under "ALLOWLISTS").
ALLOWLIST_HELP = (
    "Findings of known-good programs are dropped (and counted in the `findings_allowlisted` "
    "statistic) by allowlist entries. The built-in defaults (memwarden/data/allowlist.yaml, "
    "listed on each page under DEFAULT ALLOWLIST) are merged with the files given by "
    "`--allowlist FILE` (repeatable) or the configuration file's `allowlists:`; "
    "`use_defaults: false` in a file drops the defaults. `memwarden signatures show NAME` "
    "prints the entries in force for a signature.",
    "An entry matches a finding when every key it gives matches the process that caused it; "
    "a key given a list matches any of its values. Keys: `executable` (the executable path, "
    "shell glob), `process_name` (comm, exact, cut to 15 characters), `user` (uid or user "
    "name), `container` (container id prefix; never matches a host process), `image` "
    "(container image, glob), `path` (a path argument of the triggering event, glob), "
    "`ancestor` (the name of one of the process's ancestors, glob, walked in the process "
    "table), `cmdline_glob` (the process's command line: name and arguments, glob), and "
    "`reason` (shown by `signatures show`). In globs `*` matches any characters, `/` "
    "included. Entries under `global` apply to every detector, Falco rules included; "
    "entries under `signatures` are keyed by event name or ID (a Falco rule: the "
    "signatureID or eventName its findings carry). A "
    "bad file stops memwarden with its file, line and key (exit status 2).",
)

ALLOWLIST_EXAMPLE = """\
use_defaults: true
global:
  - executable: /usr/bin/crash
    user: root
    reason: kernel crash analysis by the on-call team
signatures:
  proc_mem_access:
    - executable: [/usr/bin/gdb, /usr/bin/py-spy]
      container: 7d0f2b9c4e1a
      reason: profiling in the perf-lab container
  MW-1002:
    - executable: /usr/libexec/abrt-hook-ccpp
      path: /var/lib/systemd/coredump/*
      reason: the core handler on hosts running ABRT"""


def render_index(classes) -> str:
    out = [
        "---",
        "title: MEMWARDEN-SIGNATURES",
        "section: 1",
        "header: memwarden Signature Manual",
        "---",
        "",
        "## SIGNATURES",
        "",
        "| ID | Event name | Name | Severity | MITRE | Events |",
        "|---|---|---|---|---|---|",
    ]
    for cls in classes:
        md = cls.metadata
        p = md.properties
        out.append(f"| {md.id} | [{md.event_name}]({md.event_name}.md) | {md.name} | "
                   f"{p.severity} | {p.external_id} {p.technique} | "
                   f"{', '.join(f'`{e}`' for e in cls.events)} |")
    out += ["", "## HOW THE SEEDS MAP TO SIGNATURES", ""]
    for title, text in PACK_NOTES:
        out += [f"**{title}**", f": {text}", ""]
    out += ["## ALLOWLISTS", ""]
    for para in ALLOWLIST_HELP:
        out += [para, ""]
    out += ["```yaml", ALLOWLIST_EXAMPLE, "```", ""]
    out += ["## REGENERATING", "",
            "These pages are generated from the signatures' metadata and the default "
            "allowlist: `memwarden signatures docs` rewrites them, and a test fails when the "
            "committed pages differ from the code.", ""]
    return "\n".join(out).rstrip() + "\n"
