"""Man-page style documentation of a signature, generated from its metadata and ``doc``.

The shape follows Tracee's event manual pages (the seeds): NAME, DESCRIPTION, SIGNATURE
METADATA, EVENT SETS, DATA FIELDS, DEPENDENCIES, USE CASES, then free sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SignatureDoc:
    summary: str  # the NAME line, after "name - "
    description: str
    data_fields: tuple[tuple[str, str, str], ...] = ()  # (name, type, meaning)
    dependencies: tuple[tuple[str, str], ...] = ()  # (event, why)
    use_cases: tuple[tuple[str, str], ...] = ()  # (title, text)
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (TITLE, bullet lines)
    related_events: tuple[tuple[str, str], ...] = ()
    false_positives: tuple[str, ...] = field(default=())


def render(sig_cls, allowlist_lines: tuple[str, ...] = (),
           allowlist_title: str = "ALLOWLIST IN FORCE") -> str:
    """The markdown page of one signature class."""
    md = sig_cls.metadata
    doc: SignatureDoc = sig_cls.doc
    p = md.properties
    out = [
        "---",
        f"title: {md.event_name.upper().replace('_', '-')}",
        "section: 1",
        "header: memwarden Signature Manual",
        "---",
        "",
        "## NAME",
        "",
        f"**{md.event_name}** - {doc.summary}",
        "",
        "## DESCRIPTION",
        "",
        doc.description.strip(),
        "",
        "## SIGNATURE METADATA",
        "",
        f"- **ID**: {md.id}",
        f"- **Version**: {md.version}",
        f"- **Name**: {md.name}",
        f"- **EventName**: {md.event_name}",
        f"- **Severity**: {p.severity}",
        f"- **Category**: {p.category}",
        f"- **Technique**: {p.technique}",
        f"- **Kubernetes_Technique**: {p.kubernetes_technique or 'N/A'}",
        f"- **MITRE ID**: {p.mitre_id}",
        f"- **MITRE External ID**: {p.external_id}",
        f"- **Tags**: {', '.join(md.tags)}",
        f"- **Origin**: {sig_cls.default_origin} (default; per-signature setting)",
        "",
        "## EVENT SETS",
        "",
        ", ".join(f"**{s}**" for s in md.event_sets),
        "",
    ]
    if doc.data_fields:
        out += ["## DATA FIELDS", ""]
        for name, typ, meaning in doc.data_fields:
            out += [f"**{name}** (*{typ}*)", f": {meaning}", ""]
    out += ["## DEPENDENCIES", ""]
    out += [f"- `{ev}`: {why}" for ev, why in doc.dependencies] or ["- none"]
    out.append("")
    if sig_cls.path_filters:
        out += ["## KERNEL FILTERS", ""]
        out += [f"- `{pf.event_name}` where the path {pf.kind} is `{pf.value}`"
                for pf in sig_cls.path_filters]
        out.append("")
    if doc.use_cases:
        out += ["## USE CASES", ""]
        for title, text in doc.use_cases:
            out += [f"- **{title}**: {text}", ""]
    for title, lines in doc.sections:
        out += [f"## {title}", ""]
        out += [f"- {line}" for line in lines]
        out.append("")
    if doc.false_positives:
        out += ["## FALSE POSITIVES", ""]
        out += [f"- {line}" for line in doc.false_positives]
        out.append("")
    if allowlist_lines:
        out += [f"## {allowlist_title}", ""]
        out += [f"- {line}" for line in allowlist_lines]
        out.append("")
    if doc.related_events:
        out += ["## RELATED EVENTS", ""]
        out += [f"- **{ev}**: {why}" for ev, why in doc.related_events]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


INDEX_NAME = "README.md"
DEFAULT_ALLOWLIST_TITLE = "DEFAULT ALLOWLIST"


def rendered_pages(classes, allowlist=None) -> dict[str, str]:
    """File name → content of every page ``write_all`` writes: one per signature (with the
    default allowlist when given) and the index."""
    from memwarden.signatures.lib.index import render_index

    pages = {}
    for cls in classes:
        md = cls.metadata
        lines = allowlist.describe(md.id, md.event_name) if allowlist is not None else ()
        pages[f"{md.event_name}.md"] = render(cls, lines, DEFAULT_ALLOWLIST_TITLE)
    pages[INDEX_NAME] = render_index(classes)
    return pages


def write_all(docs_dir: Path, classes, allowlist=None) -> list[Path]:
    docs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_pages(classes, allowlist).items():
        path = docs_dir / name
        path.write_text(text)
        written.append(path)
    return written
