"""The README and docs/ point only at things that exist: links, anchors, paths and modules.

Checked in README.md and every docs/**/*.md page:
- every relative Markdown link resolves to a file or directory in the repository, and its
  `#anchor`, when the target is a Markdown page, to one of that page's headings (GitHub's slugs);
- in README.md and docs/*.md (not docs/research/, which quotes paths of other projects), every
  repository path written as inline code (`agent/...`, `infra/...`, `tests/...`, ...) exists, and
  every module named as `python -m <module>` or as inline code (`agent.runtime.x.name`) exists,
  with its last attribute defined in it. Modules move; this test names each stale mention.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
TOP_PAGES = [page for page in PAGES if page.parent in (REPO, REPO / "docs")]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
REPO_PATH = re.compile(r"^(?:agent|infra|tests|bench|scripts|docs|\.github|\.ci)/[\w./-]*$")
DOTTED = re.compile(r"^((?:agent|infra|bench|tests)(?:\.\w+)+)(?:\(.*\))?$")
PYTHON_M = re.compile(r"python -m ((?:agent|infra|bench|tests|scripts)(?:\.\w+)*)")
# Build outputs and caches: named by the docs, absent from a fresh checkout.
GENERATED = ("agent/edge/dist", "agent/edge/node_modules", "bench/results")
# Dotted names in the docs that are not modules.
NOT_MODULES = {"agent.runtime.audit"}  # a logger


def prose(text: str) -> str:
    """The page without fenced code blocks."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page's headings define, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(prose(text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, text: str) -> list[str]:
    """Relative links of `text` (the page at `page`) whose file or anchor does not exist."""
    problems = []
    for target in LINK.findall(INLINE_CODE.sub("", prose(text))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        if not path_part:
            if anchor not in anchors(text):
                problems.append(f"{target}: no heading with anchor #{anchor} on this page")
            continue
        resolved = (page.parent / path_part).resolve()
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif REPO not in resolved.parents and resolved != REPO:
            problems.append(f"{target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            problems.append(f"{target}: no heading with anchor #{anchor} in {resolved.name}")
    return problems


def module_problem(dotted: str, *, attribute: bool = True) -> str | None:
    """Why `dotted` (a module, or with `attribute` a module plus one) is not in the repository."""
    parts = dotted.split(".")
    for size in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:size])
        source = base.with_suffix(".py")
        if not source.is_file():
            source = base / "__init__.py"
        if base.is_dir() and size == len(parts):
            return None  # a package (`python -m` runs its __main__)
        if not source.is_file():
            continue
        rest = parts[size:]
        if not rest:
            return None
        if len(rest) > 1 or not attribute:
            return f"{'.'.join(parts[:size])} has no submodule {rest[0]}"
        name = re.escape(rest[0])
        defined = re.compile(
            rf"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\b.*=|\bimport\b.*\b{name}\b", re.M
        )
        if defined.search(source.read_text()):
            return None
        return f"{rest[0]} is not defined in {source.relative_to(REPO)}"
    return "no such module"


def stale_mentions(text: str) -> list[str]:
    """Inline-code paths and modules of one page that are not in the repository."""
    problems = []
    for dotted in PYTHON_M.findall(text):
        if (problem := module_problem(dotted, attribute=False)) is not None:
            problems.append(f"python -m {dotted}: {problem}")
    for _, span in INLINE_CODE.findall(prose(text)):
        span = span.strip()
        if REPO_PATH.match(span):
            if not span.startswith(GENERATED) and not (REPO / span).exists():
                problems.append(f"`{span}`: no such path")
        elif (match := DOTTED.match(span)) and match[1] not in NOT_MODULES:
            # Only names under one of our packages (`agent.example.com` is a host name).
            first, second = match[1].split(".")[:2]
            package = REPO / first / second
            if not (package.is_dir() or package.with_suffix(".py").is_file()):
                continue
            if (problem := module_problem(match[1])) is not None:
                problems.append(f"`{span}`: {problem}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page, page.read_text()) == []


@pytest.mark.parametrize("page", TOP_PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_named_paths_and_modules_exist(page: Path) -> None:
    assert stale_mentions(page.read_text()) == []


def test_nothing_points_outside_the_repository() -> None:
    for page in PAGES:
        text = page.read_text()
        assert "../shared" not in text, page.relative_to(REPO)
        assert "/work/" not in text, page.relative_to(REPO)


def test_checks_catch_what_they_promise() -> None:
    """The checkers above fail on a broken link, a wrong anchor, a missing path and module."""
    assert slug("Preview offline: `make plan`") == "preview-offline-make-plan"
    assert (
        slug("Edge build output (agent/edge → infra/x.py)")
        == "edge-build-output-agentedge--infraxpy"
    )
    page = REPO / "docs" / "probe.md"  # never written: links resolve as on a page in docs/
    text = (
        "# Title\n\n## Title\n\n[ok](README.md) [ok](#title-1) [gone](nope.md) "
        "[bad anchor](README.md#no-such-heading) [web](https://example.com)\n\n"
        "`agent/runtime/app.py` `agent/nowhere.py` `agent/edge/dist/index.js` "
        "`infra.plan.plan_stack` `infra.plan.no_such_name` `python -m infra.nothing` "
        "`agent.example.com`\n\n"
        "```\n# not a heading\n[not a link](nope2.md) `agent/not-checked.py`\n```\n"
    )
    assert broken_links(page, text) == [
        "nope.md: no such file",
        "README.md#no-such-heading: no heading with anchor #no-such-heading in README.md",
    ]
    assert broken_links(page, "# A\n\n[x](#b)\n") == ["#b: no heading with anchor #b on this page"]
    assert stale_mentions(text) == [
        "python -m infra.nothing: infra has no submodule nothing",
        "`agent/nowhere.py`: no such path",
        "`infra.plan.no_such_name`: no_such_name is not defined in infra/plan.py",
    ]


def code_files() -> list[Path]:
    """The repository's own source, config and workflow files: what git tracks or would track
    (`git ls-files`, ignored trees left out). Walking the directories instead also met what other
    tests create and delete meanwhile (wrangler's `.wrangler/tmp/` bundles, caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    tops = ("infra/", "agent/", "tests/", "bench/", "scripts/", ".github/")
    return [
        REPO / name
        for name in listed.split("\0")
        if (name in ("Makefile",) or name.startswith("Pulumi") or name.startswith(tops))
        and Path(name).suffix in {".py", ".ts", ".mjs", ".json", ".toml", ".yaml", ".yml", ""}
        and (REPO / name).is_file()
    ]


def test_pages_the_code_cites_exist() -> None:
    """Code comments and messages cite docs/<page>.md: each page they name is in the repository."""
    cited = re.compile(r"(?<![\w/.])docs/([\w-]+\.md)")
    missing = sorted(
        f"{path.relative_to(REPO)}: docs/{name}"
        for path in code_files()
        for name in cited.findall(path.read_text(errors="replace"))
        if not (REPO / "docs" / name).is_file()
    )
    assert missing == []


def test_code_points_nowhere_outside_the_repository() -> None:
    """What a reader needs lives in the repository, never in a sibling checkout's notes."""
    outside = sorted(
        str(path.relative_to(REPO))
        for path in code_files()
        if path != Path(__file__) and "../shared/" in path.read_text(errors="replace")
    )
    assert outside == []
