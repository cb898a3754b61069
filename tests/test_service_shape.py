"""Every service has the same rooms with the same roles (docs/developing.md), and keeps them.

Read from the source with `ast`, so a change that puts a commit in a router, I/O in the
domain or a 150-line function back fails here rather than in a review.
"""

from __future__ import annotations

import ast
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
