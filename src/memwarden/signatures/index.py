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
    out += ["## REGENERATING", "",
            "These pages are generated from the signatures' metadata and the default "
            "allowlist: `memwarden signatures docs` rewrites them, and a test fails when the "
            "committed pages differ from the code.", ""]
    return "\n".join(out).rstrip() + "\n"
