"""Metadata of the pack: Tracee's where Tracee has the signature, well-formed everywhere, and
the requirements the sensor compiles into the kernel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memwarden.signatures import BUILTIN_SIGNATURES, find_signature

EVENTS_DOC = Path(__file__).parent.parent.parent / "docs" / "events.md"

#: (ID, Version, Name, EventName, Severity, Category, Technique, id, external_id) as Tracee
#: defines them (aquasecurity/tracee signatures/golang and detectors/).
TRACEE = {
    "TRC-1011": ("1", "Core dumps configuration file modification detected",
                 "core_pattern_modification", 3, "privilege-escalation", "Escape to Host",
                 "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665", "T1611"),
    "TRC-1023": ("1", "Process memory access detected", "proc_mem_access", 3,
                 "credential-access", "Proc Filesystem",
                 "attack-pattern--3120b9fa-23b8-4500-ae73-09494f607b7d", "T1003.007"),
    "TRC-1024": ("1", "Code injection detected through /proc/<pid>/mem file",
                 "proc_mem_code_injection", 3, "defense-evasion", "Proc Memory",
                 "attack-pattern--d201d4cc-214d-4a74-a1ba-b3fa09fd4591", "T1055.009"),
    "TRC-1025": ("1", "Code injection detected using process_vm_writev syscall",
                 "process_vm_write_inject", 3, "defense-evasion", "Process Injection",
                 "attack-pattern--43e7dc91-05b2-474c-b9ac-2ed4fe101f4d", "T1055"),
}

#: ATT&CK technique → STIX id, as published by MITRE (enterprise-attack).
MITRE = {
    "T1003": ("OS Credential Dumping", "attack-pattern--0a3ead4e-6d47-4ccb-854c-a6a4f9d96b22"),
    "T1003.007": ("Proc Filesystem", "attack-pattern--3120b9fa-23b8-4500-ae73-09494f607b7d"),
    "T1005": ("Data from Local System", "attack-pattern--3c4a2599-71ee-4405-ba1e-0e28414b4bc5"),
    "T1055": ("Process Injection", "attack-pattern--43e7dc91-05b2-474c-b9ac-2ed4fe101f4d"),
    "T1055.008": ("Ptrace System Calls", "attack-pattern--ea016b56-ae0e-47fe-967a-cc0ad51af67f"),
    "T1055.009": ("Proc Memory", "attack-pattern--d201d4cc-214d-4a74-a1ba-b3fa09fd4591"),
    "T1070": ("Indicator Removal", "attack-pattern--799ace7f-e227-4411-baa0-8868704f2a69"),
    "T1611": ("Escape to Host", "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665"),
}


@pytest.mark.parametrize("sig_id", sorted(TRACEE))
def test_tracee_metadata_is_tracee_s(sig_id: str) -> None:
    md = find_signature(sig_id).metadata
    p = md.properties
    assert (md.version, md.name, md.event_name, p.severity, p.category, p.technique,
            p.mitre_id, p.external_id) == TRACEE[sig_id]
    assert md.event_id == 6000 + int(sig_id[-2:])


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.id)
def test_metadata_is_complete_and_consistent(cls) -> None:
    md = cls.metadata
    p = md.properties
    assert re.fullmatch(r"(TRC-1\d{3}|MW-1\d{3})", md.id)
    expected_event_id = (6000 if md.id.startswith("TRC") else 7000) + int(md.id[-3:]) % 1000
    assert md.event_id == expected_event_id
    assert re.fullmatch(r"[a-z][a-z0-9_]+", md.event_name)
    assert 0 <= p.severity <= 3 and p.category and md.description.endswith(".")
    assert p.external_id in MITRE, p.external_id
    assert (p.technique, p.mitre_id) == MITRE[p.external_id]
    assert md.event_sets == ("signatures", "default") and "linux" in md.tags
    doc = cls.doc
    assert doc.summary and len(doc.description) > 300
    assert doc.data_fields and doc.dependencies and doc.use_cases and doc.false_positives
    assert {ev for ev, _ in doc.dependencies} <= set(cls.events)


def test_ids_event_names_and_event_ids_are_unique() -> None:
    for attr in ("id", "event_name", "event_id"):
        values = [getattr(c.metadata, attr) for c in BUILTIN_SIGNATURES]
        assert len(values) == len(set(values)), attr


def _contract_events() -> set[str]:
    names: set[str] = set()
    for line in EVENTS_DOC.read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.id)
def test_requirements_are_events_of_the_contract_and_valid_path_filters(cls) -> None:
    contract = _contract_events()
    assert set(cls.events) <= contract
    for pf in cls.path_filters:
        assert pf.event_name in cls.events
        assert pf.kind in ("exact", "prefix", "suffix", "basename")
        if pf.kind in ("exact", "prefix"):
            assert pf.value.startswith("/")
        if pf.kind == "prefix":
            assert pf.value.endswith("/")


def test_related_events_name_signatures_or_contract_events() -> None:
    names = {c.metadata.event_name for c in BUILTIN_SIGNATURES} | _contract_events()
    names |= {"mem_prot_alert"}  # Tracee's, named by seed 000
    for cls in BUILTIN_SIGNATURES:
        for ev, _ in cls.doc.related_events:
            assert ev in names, (cls.metadata.id, ev)
