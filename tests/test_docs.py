"""The README and docs/ stay consistent with themselves: every relative link reaches a file and, where it names
one, a heading; the versions table marks as bundled the version the README says `asr/assets/default.pt` is."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slug_follows_github():
    assert slug(" Version 12 (adopted 2026-12-06, eighth session): version 11 averaged with run L's last three "
                "epochs") == "version-12-adopted-2026-12-06-eighth-session-version-11-averaged-with-run-ls-last-three-epochs"
    assert slug(" `asr serve` under load") == "asr-serve-under-load"
    assert slug(" real + synthetic mixture") == "real--synthetic-mixture"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_versions_table_marks_the_bundled_version():
    readme = (ROOT / "README.md").read_text()
    said = re.search(r"`asr/assets/default\.pt` \(version (\d+);", readme)
    assert said, "the README no longer says which version asr/assets/default.pt is"
    table = readme.split("### Default-model versions", 1)[1].split("\n\n", 2)[1]
    bundled = re.findall(r"^\| \*\*(\d+)\*\* \(bundled\) \|", table, flags=re.M)
    assert bundled == [said.group(1)], f"versions table marks {bundled} as bundled, the README says {said.group(1)}"
    versions = [int(v) for v in re.findall(r"^\| (?:\*\*)?(\d+)(?:\*\*)? ", table, flags=re.M)]
    assert versions == sorted(versions) and versions[-1] == int(said.group(1)), versions
