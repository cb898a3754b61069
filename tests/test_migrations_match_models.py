"""Each service's migrations build exactly the schema its models declare, on both databases.

A model changed without its migration (or the reverse) works in tests that create tables from
the models and breaks in production, which migrates: this compares the migrated database with
the models, as `alembic revision --autogenerate` would, and wants no difference.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pacte_common import db as dbm
from pacte_testing import project_root

SERVICES = {"orientation": "orientation", "sessions": "sessions", "remuneration": "remuneration",
            "agora-gateway": "agora_gateway", "attendance": "attendance", "insights": "insights"}


def _metadata(package: str):
    """The service's Base.metadata with every table it declares (models live in several db/ modules)."""
    db_package = importlib.import_module(f"{package}.db")
    for module in pkgutil.iter_modules(db_package.__path__):
        importlib.import_module(f"{package}.db.{module.name}")
    return importlib.import_module(f"{package}.db.models").Base.metadata


def _differences(connection, metadata) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if not _virtual(d, metadata)]


def _virtual(difference, metadata) -> bool:
    """A table the migrations make that no model can declare (a SQLite FTS5 table and its shadow
    tables), named in the metadata's `info["virtual_tables"]` by the module that reads it."""
    if difference[0] != "remove_table":
        return False
    name = difference[1].name
    return any(name == v or name.startswith(f"{v}_") for v in metadata.info.get("virtual_tables", ()))


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrations_build_what_the_models_declare(service, database_url):
    metadata = _metadata(SERVICES[service])
    await dbm.migrate(database_url, project_root() / "services" / service / "migrations")
    engine = dbm.create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences, metadata)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: models and migrations differ: {differences}"
