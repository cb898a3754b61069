"""The one-trip SQLite driver (pacte_common.sqlite_driver) behind every SQLite engine of the
kernel: what SQLAlchemy reads back from a statement (rows, row counts, generated ids, RETURNING,
streamed results, errors) is what the stock aiosqlite adapter gives, through `create_engine`."""

from __future__ import annotations

import pytest
from pacte_common.db import create_engine
from pacte_common.sqlite_driver import OneTripCursor
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    exc,
    func,
    insert,
    select,
    text,
    update,
)

metadata = MetaData()
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("count", Integer, nullable=False),
)


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_every_statement_goes_through_the_one_trip_cursor(engine):
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)


async def test_rows_counts_and_generated_ids_come_back(engine):
    async with engine.begin() as connection:
        first = await connection.execute(insert(items).values(name="a", count=1))
        assert first.inserted_primary_key == (1,)  # the cursor's lastrowid
        many = await connection.execute(insert(items), [{"name": f"n{i}", "count": i} for i in range(5)])
        assert many.rowcount == 5
        changed = await connection.execute(update(items).where(items.c.count >= 3).values(count=items.c.count + 10))
        assert changed.rowcount == 2  # n3, n4
        returned = (await connection.execute(
            update(items).where(items.c.name == "a").values(count=7).returning(items.c.id, items.c.count))).all()
        assert [tuple(row) for row in returned] == [(1, 7)]
        result = await connection.execute(select(items.c.name, items.c.count).order_by(items.c.id))
        assert list(result.keys()) == ["name", "count"]  # the description
        assert [tuple(row) for row in result] == [("a", 7), ("n0", 0), ("n1", 1), ("n2", 2), ("n3", 13), ("n4", 14)]
        assert (await connection.execute(select(func.count()).select_from(items).where(items.c.count > 100))).scalar() == 0


async def test_a_streamed_result_reads_every_row(engine):
    async with engine.begin() as connection:
        await connection.execute(insert(items), [{"name": f"s{i}", "count": i} for i in range(250)])
    async with engine.connect() as connection:
        streamed = await connection.stream(select(items.c.count).order_by(items.c.id))
        seen = [row.count async for row in streamed]
    assert seen == list(range(250))


async def test_errors_are_sqlalchemys_and_a_failed_transaction_leaves_nothing(engine):
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(items).values(name="x", count=1))
            await connection.execute(insert(items).values(name="x", count=2))  # unique name
    with pytest.raises(exc.OperationalError):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(items))).scalar() == 0
