"""docs/signatures/ is generated from the code: the committed pages must equal the rendered
ones (run `memwarden signatures docs` after changing a signature or the default allowlist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memwarden.engine.allowlist import Allowlist
from memwarden.signatures import BUILTIN_SIGNATURES
from memwarden.signatures.lib.docs import rendered_pages

DOCS = Path(__file__).parent.parent.parent / "docs" / "signatures"
FIX = "regenerate with: .venv/bin/memwarden signatures docs (writes docs/signatures/; commit it)"


def pages() -> dict[str, str]:
    return rendered_pages(BUILTIN_SIGNATURES, Allowlist.load())


def test_no_page_is_missing_or_stale() -> None:
    committed = {p.name for p in DOCS.glob("*.md")}
    missing = sorted(set(pages()) - committed)
    assert not missing, f"docs/signatures/ lacks {missing}; {FIX}"
    stale = sorted(committed - set(pages()))
    assert not stale, f"docs/signatures/ has pages of no signature {stale}: delete them; {FIX}"


@pytest.mark.parametrize("name", sorted(pages()))
def test_committed_page_equals_the_rendered_one(name: str) -> None:
    page = DOCS / name
    assert page.exists(), f"docs/signatures/{name} is missing; {FIX}"
    assert page.read_text() == pages()[name], f"docs/signatures/{name} is out of date; {FIX}"


@pytest.mark.parametrize("cls", BUILTIN_SIGNATURES, ids=lambda c: c.metadata.event_name)
def test_pages_have_the_seed_s_sections(cls) -> None:
    page = pages()[f"{cls.metadata.event_name}.md"]
    order = ["## NAME", "## DESCRIPTION", "## SIGNATURE METADATA", "## EVENT SETS",
             "## DATA FIELDS", "## DEPENDENCIES", "## USE CASES", "## FALSE POSITIVES",
             "## DEFAULT ALLOWLIST", "## RELATED EVENTS"]
    positions = [page.index(h) for h in order]
    assert positions == sorted(positions)
    assert f"- **ID**: {cls.metadata.id}" in page
    assert f"- **MITRE ID**: {cls.metadata.properties.mitre_id}" in page


def test_the_docs_command_writes_exactly_these_pages(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "memwarden", "signatures", "docs", "--out",
                        str(tmp_path)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert written == pages()


def test_the_allowlist_example_in_the_index_is_a_valid_allowlist() -> None:
    from memwarden.engine.allowlist import parse_text
    from memwarden.signatures.lib.index import ALLOWLIST_EXAMPLE

    parsed = parse_text(ALLOWLIST_EXAMPLE, "example")
    assert len(parsed.global_entries) == 1 and set(parsed.per_detector) == {
        "proc_mem_access", "mw-1002"}
