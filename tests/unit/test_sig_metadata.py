"""Metadata of the pack: Tracee's where Tracee has the signature, well-formed and complete
everywhere, and the requirements the sensor compiles into the kernel.

Each signature's MITRE ATT&CK mapping lives in its own metadata (``properties``: technique,
mitre_id, external_id); the tests check that it is there, well-formed and consistent across the
pack. Two tables stay here because they hold facts the metadata cannot vouch for: ``TRACEE``
(what Tracee's own definitions say, for the signatures ported from it) and ``MITRE`` (the STIX
id and name MITRE publishes for a technique: a mistyped UUID is well-formed and consistent, and
only a reference catches it). ``MITRE`` is keyed by technique, not by signature: a new
signature touches it only when it maps to a technique no other signature uses."""

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

#: ATT&CK technique → (name, STIX id), as published by MITRE (enterprise-attack): reference
#: data, one row per technique the pack uses (https://attack.mitre.org/techniques/<T-number>/).
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


#: ATT&CK's enterprise tactics, the values Tracee's ``Category`` takes.
TACTICS = frozenset({
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "command-and-control", "exfiltration", "impact"})


def source(cls) -> str:
    """The file to edit for ``cls``, as a failure message names it."""
    return "src/" + cls.__module__.replace(".", "/") + ".py"


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.id)
def test_metadata_is_complete_and_consistent(cls) -> None:
    md = cls.metadata
    p = md.properties
    where = f"{source(cls)}: metadata"
    assert re.fullmatch(r"(TRC-1\d{3}|MW-1\d{3})", md.id), \
        f"{where}.id {md.id!r}: Tracee's ID (TRC-1xxx) or the next free MW-1xxx"
    expected_event_id = (6000 if md.id.startswith("TRC") else 7000) + int(md.id[-3:]) % 1000
    assert md.event_id == expected_event_id, f"{where}.event_id must be {expected_event_id}"
    assert re.fullmatch(r"[a-z][a-z0-9_]+", md.event_name), f"{where}.event_name"
    assert 0 <= p.severity <= 3, f"{where}.properties.severity: 0 (info) .. 3 (high)"
    assert p.category in TACTICS, \
        f"{where}.properties.category {p.category!r}: an ATT&CK tactic, one of {sorted(TACTICS)}"
    assert md.description.endswith("."), f"{where}.description: a sentence ending in '.'"
    assert md.event_sets == ("signatures", "default") and "linux" in md.tags, \
        f"{where}: event_sets=('signatures', 'default') and 'linux' in tags"
    doc = cls.doc
    where = f"{source(cls)}: doc (the page `memwarden signatures docs` writes)"
    assert doc.summary and len(doc.description) > 300, f"{where}: summary, description > 300"
    assert doc.data_fields and doc.dependencies and doc.use_cases and doc.false_positives, \
        f"{where}: data_fields, dependencies, use_cases and false_positives are all needed"
    assert {ev for ev, _ in doc.dependencies} <= set(cls.events), \
        f"{where}: dependencies name events the signature selects ({cls.events})"


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.id)
def test_mitre_mapping_is_in_the_signature_s_metadata_and_well_formed(cls) -> None:
    p = cls.metadata.properties
    where = f"{source(cls)}: metadata.properties"
    assert re.fullmatch(r"T\d{4}(\.\d{3})?", p.external_id), \
        f"{where}.external_id {p.external_id!r}: the ATT&CK technique's T-number (T1055.009)"
    assert re.fullmatch(r"attack-pattern--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                        r"-[0-9a-f]{12}", p.mitre_id), \
        f"{where}.mitre_id {p.mitre_id!r}: the technique's STIX id (attack-pattern--<uuid4>)"
    assert p.technique and p.technique == p.technique.strip(), \
        f"{where}.technique: the technique's name as MITRE writes it"


def test_mitre_mappings_agree_across_the_pack() -> None:
    """One technique, one name and one STIX id, whichever signature names it."""
    seen: dict[str, tuple[str, str, str]] = {}
    by_stix: dict[str, str] = {}
    for cls in BUILTIN_SIGNATURES:
        p = cls.metadata.properties
        first = seen.setdefault(p.external_id, (p.technique, p.mitre_id, source(cls)))
        assert (p.technique, p.mitre_id) == first[:2], \
            f"{source(cls)} and {first[2]} map {p.external_id} differently"
        assert by_stix.setdefault(p.mitre_id, p.external_id) == p.external_id, \
            f"{source(cls)}: {p.mitre_id} is already the STIX id of {by_stix[p.mitre_id]}"


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.id)
def test_mitre_mapping_is_mitre_s(cls) -> None:
    p = cls.metadata.properties
    assert p.external_id in MITRE, (
        f"{source(cls)} maps to {p.external_id}, which no other signature uses: add its row "
        f"(name, STIX id) to MITRE in tests/unit/test_sig_metadata.py, copied from "
        f"https://attack.mitre.org/techniques/{p.external_id.replace('.', '/')}/")
    assert (p.technique, p.mitre_id) == MITRE[p.external_id], (
        f"{source(cls)}: metadata.properties technique/mitre_id for {p.external_id} are not "
        f"MITRE's {MITRE[p.external_id]}")


def test_the_mitre_reference_holds_only_techniques_the_pack_uses() -> None:
    used = {c.metadata.properties.external_id for c in BUILTIN_SIGNATURES}
    assert set(MITRE) == used, f"unused rows in MITRE: {sorted(set(MITRE) - used)}"


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
