"""Every service has the same rooms with the same roles (docs/developing.md), and keeps them.

Read from the source with `ast`, so a change that puts a commit in a router, I/O in the
domain or a 150-line function back fails here rather than in a review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pacte_testing import project_root

SERVICES = {"orientation": "orientation", "sessions": "sessions", "remuneration": "remuneration",
            "agora-gateway": "agora_gateway"}
ROOMS = ("api", "app", "domain", "db", "events")
MAX_FUNCTION_LINES = 60
# What a pure rule may not import: frameworks, databases, the network, the bus.
IMPURE = ("sqlalchemy", "fastapi", "starlette", "httpx", "aiokafka", "asyncpg", "aiosqlite")


def _package(service: str) -> Path:
    return project_root() / "services" / service / "src" / SERVICES[service]


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_same_rooms_in_every_service(service):
    package = _package(service)
    missing = [room for room in ROOMS if not (package / room / "__init__.py").exists()]
    missing += [name for name in ("settings.py", "main.py") if not (package / name).exists()]
    assert missing == [], f"{service} lacks {missing}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_only_the_use_cases_commit(service):
    package = _package(service)
    commits = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in _modules(package)
        if path.relative_to(package).parts[0] != "app"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
        and isinstance(node.func.value, ast.Name) and node.func.value.id in ("db", "session")
    ]
    assert commits == [], f"{service}: commits outside app/: {commits}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_domain_is_pure(service):
    domain = _package(service) / "domain"
    impure = []
    for path in _modules(domain):
        for node in ast.walk(_tree(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            impure += [f"{path.name}: {name}" for name in names if name.split(".")[0] in IMPURE]
    assert impure == [], f"{service}: the domain imports {impure}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_long_function_in_the_api_the_use_cases_or_the_domain(service):
    package = _package(service)
    long = [
        f"{path.relative_to(package)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for room in ("api", "app", "domain")
        for path in _modules(package / room)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{service}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_string_keyed_runtime_and_no_test_helper_in_production():
    sources = [p for root in ("services", "libs/common") for p in _modules(project_root() / root)
               if "tests" not in p.parts]
    offenders = [str(p) for p in sources if "extras[" in p.read_text()]
    offenders += [
        f"{p}: imports {name}" for p in sources for node in ast.walk(_tree(p))
        for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if name.split(".")[0] == "pacte_testing"
    ]
    assert offenders == []


# ---------------------------------------------------------------- the project holds its own rules
# Documents outside the repository the code once cited (spelled in two pieces so this file does
# not cite them itself).
OUTSIDE = ("DOMAIN" + ".md", "DESIGN" + ".md", "../" + "shared")
# Still citing an outside document, reworded by the branch that owns them (auth and logs).
NOT_YET_REWORDED = {"libs/common/src/pacte_common/auth.py", "libs/common/src/pacte_common/logs.py"}
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)
DOC_PATH = re.compile(r"(?<![\w/.-])(?:[\w.-]+/)*docs/[\w./-]*\.md")
SECTION = re.compile(r"(docs/(?:rules|conventions)\.md) §(\d+(?:\.\d+)?)")
TEXT_SUFFIXES = {".py", ".md", ".json", ".toml", ".txt", ".html", ".ini", ".cfg", ".yml", ".yaml", ".sql", ".csv", ".xml"}


def _project_files(suffixes: set[str], roots=("libs", "services", "tests", "docs", "README.md")) -> list[Path]:
    root = project_root()
    files = []
    for name in roots:
        top = root / name
        candidates = [top] if top.is_file() else top.rglob("*")
        files += [p for p in candidates if p.is_file() and p.suffix in suffixes
                  and not {"__pycache__", "node_modules", ".venv"} & set(p.parts)]
    return sorted(files)


def test_no_document_outside_the_repository_is_cited():
    root = project_root()
    offenders = [
        f"{path.relative_to(root)}: {outside}"
        for path in _project_files(TEXT_SUFFIXES)
        if str(path.relative_to(root)) not in NOT_YET_REWORDED
        for outside in OUTSIDE if outside in path.read_text(errors="replace")
    ]
    assert offenders == [], f"cite the project's docs (docs/rules.md, docs/conventions.md) instead: {offenders}"


def test_no_issue_number_in_the_code():
    root = project_root()
    offenders = [
        f"{path.relative_to(root)}:{number}: {match.group(0)}"
        for path in _project_files({".py"}, roots=("libs", "services", "tests", "benchmarks"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in ISSUE_NUMBER.finditer(line)
    ]
    assert offenders == [], f"say what the code does and cite a doc, not an issue: {offenders}"


def _sections(doc: Path) -> set[str]:
    """`3`, `3.2`… of the numbered headings (`## 3. Orientation`, `### 3.2 Refusal reasons`)."""
    found = re.findall(r"^#{2,4} (\d+(?:\.\d+)?)\.?\s", doc.read_text(), re.MULTILINE)
    return set(found)


def test_every_doc_the_code_cites_exists_with_its_section():
    root = project_root()
    missing = []
    for path in _project_files({".py"}, roots=("libs", "services", "tests", "benchmarks")):
        text = path.read_text()
        missing += [f"{path.relative_to(root)}: {cited}" for cited in set(DOC_PATH.findall(text))
                    if not (root / cited).is_file()]
        missing += [f"{path.relative_to(root)}: {doc} §{section}" for doc, section in set(SECTION.findall(text))
                    if section not in _sections(root / doc)]
    assert missing == []
