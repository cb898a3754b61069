"""A training file keeps its profile's indicator fields as columns (db/indicators.py counts
them): written with the profile when the file opens, back-filled by the migration that added
them for the files already there."""

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pacte_common.db import UTCDateTime, create_engine, session_factory
from sessions.db.models import Action, Dossier, Programme, TrainingSession
from sessions.domain.indicators import PROFILE_FACTS, profile_facts
from sessions.main import MIGRATIONS

BEFORE_COLUMNS = "9f4b2d7e6a13"  # the revision before the profile's columns


async def _columns_of(url: str, dossier_id) -> dict:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            row = (await db.execute(sa.select(*(getattr(Dossier, name) for name in PROFILE_FACTS)).where(Dossier.id == dossier_id))).one()
    finally:
        await engine.dispose()
    return dict(row._mapping)


async def test_an_enrolment_writes_the_profile_columns(api):
    session = await api.catalogue()
    full = api.profile_body(sex="M", birth_date="1970-02-28", education_level="below_v", jobseeker_registration_date="2025-01-31",
                            disabled_worker=True, qpv=False)
    bare = {"sex": "F", "birth_date": "2001-12-31"}
    for profile in (full, bare):
        dossier = await api.enrol(session["id"], profile=profile)
        assert await _columns_of(api.settings.database_url, uuid.UUID(dossier["id"])) == profile_facts(profile)
    assert profile_facts(full) == {"sex": "M", "birth_date": date(1970, 2, 28), "education_level": "below_v",
                                   "jobseeker_registration_date": date(2025, 1, 31), "disabled_worker": True, "qpv": False}
    assert profile_facts(bare) == {"sex": "F", "birth_date": date(2001, 12, 31), "education_level": None,
                                   "jobseeker_registration_date": None, "disabled_worker": False, "qpv": False}


def _old_row(connection, model, row: dict) -> tuple[sa.TableClause, dict]:
    """The table with the columns the old schema has (their names read from the database, their
    types from the model) and the row completed with the model's defaults: later columns left out."""
    present = {column["name"] for column in sa.inspect(connection).get_columns(model.__tablename__)}
    columns = [column for column in model.__table__.columns if column.name in present]
    full = dict(row)
    for column in columns:
        if column.name not in full and column.default is not None:
            full[column.name] = column.default.arg(None) if callable(column.default.arg) else column.default.arg
    table = sa.table(model.__tablename__, *(sa.column(column.name, column.type) for column in columns))
    return table, {name: value for name, value in full.items() if name in present}


def _upgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)


@pytest.mark.empty_database
async def test_the_migration_back_fills_the_columns_from_the_profile(database_url):
    await asyncio.to_thread(_upgrade, database_url, BEFORE_COLUMNS)
    profiles = [
        {"sex": "F", "birth_date": "1999-03-02", "education_level": "iv", "jobseeker_category": None, "jobseeker_registration_date": "2024-02-29",
         "disabled_worker": True, "qpv": True, "unemployment_daily_amount": "31.20"},
        {"sex": "M", "birth_date": "1965-07-14", "education_level": None, "jobseeker_registration_date": None, "disabled_worker": False, "qpv": False},
    ]
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    programme, action, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # The file as the old schema holds it: the JSON profile only (no column of its own yet).
    old_dossiers = sa.table(
        "dossiers",
        *(sa.column(name, sa.Uuid) for name in ("id", "session_id", "person_id")),
        *(sa.column(name, sa.Boolean) for name in ("has_nir", "entry_declared_late", "exit_declared_late")),
        *(sa.column(name, sa.String) for name in ("status", "created_by")),
        *(sa.column(name, UTCDateTime) for name in ("created_at", "updated_at")),
        sa.column("version", sa.Integer), sa.column("profile", sa.JSON), sa.column("skill_blocks_obtained", sa.JSON),
    )
    ids = [uuid.uuid4() for _ in profiles]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            # Programmes, actions and sessions as the old schema holds them too (later columns do not exist yet).
            for model, row in (
                (Programme, dict(id=programme, code="VISA", name="VISA", pillar="visa", funder="region",
                                 remuneration_approved=True, tension_sector=False, agora_category="standard",
                                 delegated_to_france_travail=False, version=1)),
                (Action, dict(id=action, programme_id=programme, organisation_siret="12345678900015", title="t",
                              certifying=True, hours_in_centre=Decimal(400), hours_in_company=Decimal(0),
                              hourly_price=Decimal(12), departement="44", modules=[], skill_blocks=[], version=1)),
                (TrainingSession, dict(id=session, action_id=action, start_date=date(2026, 1, 5),
                                       end_date=date(2026, 6, 26), places=12, recruitment_state="open",
                                       information_meetings=[], version=1)),
            ):
                table, values = await connection.run_sync(_old_row, model, row)
                await connection.execute(sa.insert(table), [values])
            await connection.execute(sa.insert(old_dossiers), [dict(
                id=dossier_id, session_id=session, person_id=uuid.uuid4(), profile=profile, has_nir=False, status="enrolled",
                entry_declared_late=False, exit_declared_late=False, created_by="test", version=1, created_at=now, updated_at=now,
                skill_blocks_obtained=[]) for dossier_id, profile in zip(ids, profiles, strict=True)])
    finally:
        await engine.dispose()

    await asyncio.to_thread(_upgrade, database_url, "head")
    for dossier_id, profile in zip(ids, profiles, strict=True):
        assert await _columns_of(database_url, dossier_id) == profile_facts(profile)
