"""The public search's index and queries (docs/public-search.md). Same MetaData as `sessions.db.models`.

One `public_offers` row per action: the text the keyword search reads (title and objectives),
its French stems, the training place (postal code, INSEE code, city, coordinates); one
`public_offer_codes` row per FORMACODE, NSF and ROME code. They are derived from the action
and rewritten in the transaction that wrote it, at its commit (`_refresh_before_commit`), whatever
use case wrote it.

Full text: on PostgreSQL a GIN index on `to_tsvector('french', words)` (made by the migration);
on SQLite an FTS5 table `public_offers_fts` (rowid = `public_offers.id`) over the stems, which
SQLite cannot compute in French itself (its tokenizers stem English only).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy.dialects.postgresql  # noqa: F401 - registers func.to_tsvector's types before the index below uses it
from pacte_common.contracts.outcomes import OutcomeSituation
from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    column,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, Mapped, Session, load_only, mapped_column, raiseload

from sessions.db.models import Action, Base, Dossier, TrainingSession
from sessions.db.outcomes import Outcome
from sessions.db.satisfaction import SatisfactionReview
from sessions.domain.public_search import (
    KM_PER_DEGREE,
    MARKS,
    RESULT_HORIZON_MONTHS,
    Around,
    offer_codes,
    searchable_text,
    stems,
)

FTS_TABLE = "public_offers_fts"
# Tables the migrations make that no model declares (SQLite FTS5 and its shadow tables).
Base.metadata.info.setdefault("virtual_tables", set()).add(FTS_TABLE)


class PublicOffer(Base):
    __tablename__ = "public_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("actions.id"), unique=True)
    words: Mapped[str] = mapped_column(Text)
    stems: Mapped[str] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10), index=True)
    insee: Mapped[str | None] = mapped_column(String(5), index=True)
    city: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float, index=True)
    longitude: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # The full text index of PostgreSQL (the migration makes it; SQLite has the FTS5 table).
        Index("ix_public_offers_words_fts", func.to_tsvector(literal_column("'french'::regconfig"), text("words")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )


class PublicOfferCode(Base):
    __tablename__ = "public_offer_codes"
    __table_args__ = (PrimaryKeyConstraint("kind", "code", "action_id"),)

    kind: Mapped[str] = mapped_column(String(10))  # formacode | nsf | rome
    code: Mapped[str] = mapped_column(String(16))
    action_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("actions.id"), index=True)


# The public search's order (start date, id): read in index order, a page stops after `limit` rows.
Index("ix_training_sessions_start_date_id", TrainingSession.start_date, TrainingSession.id)


# ---------------------------------------------------------------- keeping the index in step


def offer_row(action_id: uuid.UUID, title: str, details: dict | None) -> dict:
    place = (details or {}).get("adresse") or {}
    words = searchable_text(title, details)

    def coordinate(name: str) -> float | None:
        try:
            return float(place[name]) if place.get(name) else None
        except (TypeError, ValueError):
            return None

    return {
        "action_id": action_id, "words": words, "stems": " ".join(stems(words)),
        "postcode": place.get("codepostal"), "insee": place.get("code_insee"), "city": place.get("ville"),
        "latitude": coordinate("latitude"), "longitude": coordinate("longitude"),
    }


def refresh_offers(connection, actions: list[tuple[uuid.UUID, str, str | None, dict | None]]) -> None:
    """Rewrite the index rows of these (id, title, formacode, details) actions (a sync connection)."""
    if not actions:
        return
    ids = [action[0] for action in actions]
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        old = list(connection.execute(select(PublicOffer.id).where(PublicOffer.action_id.in_(ids))).scalars())
        if old:
            connection.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN :ids").bindparams(bindparam("ids", expanding=True)),
                               {"ids": old})
    connection.execute(delete(PublicOffer).where(PublicOffer.action_id.in_(ids)))
    connection.execute(delete(PublicOfferCode).where(PublicOfferCode.action_id.in_(ids)))
    connection.execute(insert(PublicOffer), [offer_row(action_id, title, details) for action_id, title, _, details in actions])
    codes = [{"kind": kind, "code": code, "action_id": action_id}
             for action_id, _, formacode, details in actions for kind, code in sorted(offer_codes(formacode, details))]
    if codes:
        connection.execute(insert(PublicOfferCode), codes)
    if sqlite:
        fresh = connection.execute(select(PublicOffer.id, PublicOffer.stems).where(PublicOffer.action_id.in_(ids))).all()
        connection.execute(text(f"INSERT INTO {FTS_TABLE} (rowid, stems) VALUES (:id, :stems)"),
                           [{"id": row.id, "stems": row.stems} for row in fresh])


STALE = "public_offers_stale"


@event.listens_for(Session, "after_flush")
def _note_changed_actions(session: Session, flush_context) -> None:
    """The actions created or changed in this flush: their index rows are rewritten at commit."""
    changed = {obj.id for obj in session.new if isinstance(obj, Action)}
    changed |= {obj.id for obj in session.dirty if isinstance(obj, Action) and session.is_modified(obj)}
    if changed:
        session.info.setdefault(STALE, set()).update(changed)


@event.listens_for(Session, "before_commit")
def _refresh_before_commit(session: Session) -> None:
    """Every action written in the transaction, whatever use case wrote it, gets its index rows
    rewritten in that transaction, in batches: the search never reads another offer than the one
    committed, and a large import pays one rewrite per 500 actions, not one per flush."""
    session.flush()
    stale = session.info.pop(STALE, None)
    if not stale:
        return
    ids = sorted(stale)
    connection = session.connection()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        rows = connection.execute(select(Action.id, Action.title, Action.formacode, Action.lheo_details).where(Action.id.in_(part)))
        refresh_offers(connection, [tuple(row) for row in rows])


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(STALE, None)


# ---------------------------------------------------------------- reading


FRENCH = literal_column("'french'::regconfig")


@dataclass(frozen=True)
class SearchFilters:
    today: date
    keywords: list[str] = field(default_factory=list)  # the query's raw words (PostgreSQL stems them)
    keyword_stems: list[str] = field(default_factory=list)  # their French stems (SQLite's FTS5)
    codes: dict[str, list[str]] = field(default_factory=dict)  # kind -> codes (any of them)
    around: Around | None = None
    start_from: date | None = None
    start_to: date | None = None
    distance_learning: bool | None = None
    places_left: bool | None = None


def open_sessions() -> Select:
    """Sessions open to the public: recruiting, not cancelled, not over (as the LHEO export).
    Narrow: only the keyset's columns (start date, id) are read, the page's rows are loaded
    afterwards by `page_rows` — a small plan, no wide rows filtered then dropped."""
    return (
        select(TrainingSession)
        .options(load_only(TrainingSession.start_date, TrainingSession.id), raiseload(TrainingSession.action))
        .join(Action, TrainingSession.action_id == Action.id)
        .join(PublicOffer, PublicOffer.action_id == TrainingSession.action_id)
        .where(TrainingSession.cancelled_at.is_(None), TrainingSession.recruitment_state == "open")
    )


async def plan_for_these_values(db: AsyncSession) -> None:
    """On PostgreSQL, plan this transaction's statements for their values. A prepared statement
    run a sixth time may be given a generic plan, made without the values; for the search, whose
    best plan depends on how selective the words, codes and dates are, that plan took 60-100 ms
    where the value's own took under 1 ms (docs/public-search.md, "Speed")."""
    if db.bind.dialect.name == "postgresql":
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _keyword_condition(dialect: str, f: SearchFilters):
    if dialect == "postgresql":
        query = func.plainto_tsquery(FRENCH, " ".join(f.keywords))
        return func.to_tsvector(FRENCH, PublicOffer.words).bool_op("@@")(query)
    match = " AND ".join(f'"{stem}"' for stem in f.keyword_stems)
    ids = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_match").bindparams(fts_match=match)
    return PublicOffer.id.in_(ids.columns(column("rowid", Integer)))


def _around_condition(around: Around):
    south, north, west, east = around.box()
    dx = (PublicOffer.longitude - around.longitude) * around.longitude_factor
    dy = PublicOffer.latitude - around.latitude
    limit = (around.radius_km / KM_PER_DEGREE) ** 2
    return and_(PublicOffer.latitude.between(south, north), PublicOffer.longitude.between(west, east), dx * dx + dy * dy <= limit)


def search_query(dialect: str, f: SearchFilters) -> Select:
    query = open_sessions().where(TrainingSession.end_date >= f.today)
    if f.keyword_stems:
        query = query.where(_keyword_condition(dialect, f))
    for kind, codes in f.codes.items():
        query = query.where(TrainingSession.action_id.in_(
            select(PublicOfferCode.action_id).where(PublicOfferCode.kind == kind, PublicOfferCode.code.in_(codes))
        ))
    if f.around is not None:
        query = query.where(_around_condition(f.around))
    if f.start_from is not None:
        query = query.where(TrainingSession.start_date >= f.start_from)
    if f.start_to is not None:
        query = query.where(TrainingSession.start_date <= f.start_to)
    if f.distance_learning is not None:
        query = query.where(Action.distance_learning.is_(f.distance_learning))
    if f.places_left is True:
        query = query.where(TrainingSession.places_unknown.is_(False), TrainingSession.places > TrainingSession.places_taken)
    elif f.places_left is False:
        query = query.where(or_(TrainingSession.places_unknown.is_(True), TrainingSession.places <= TrainingSession.places_taken))
    return query


# What a result shows of its session, action and offer row: columns, not ORM objects (docs/public-search.md, "Speed").
PAGE_SESSION = Bundle("session", TrainingSession.id, TrainingSession.start_date, TrainingSession.end_date, TrainingSession.places,
                      TrainingSession.places_taken, TrainingSession.places_unknown, TrainingSession.permanent_entries,
                      TrainingSession.information_meetings)
PAGE_ACTION = Bundle("action", Action.id, Action.title, Action.formacode, Action.distance_learning, Action.organisation_siret,
                     Action.delivering_siret, Action.delivering_name, Action.lheo_details)
PAGE_OFFER = Bundle("offer", PublicOffer.postcode, PublicOffer.city, PublicOffer.latitude, PublicOffer.longitude)


async def page_rows(db: AsyncSession, ids: list[uuid.UUID]) -> list[tuple]:
    """The page's (session, action, offer) rows, in the order of `ids`; each reads as the ORM
    objects do for the columns of `PAGE_SESSION`, `PAGE_ACTION` and `PAGE_OFFER`."""
    if not ids:
        return []
    rows = await db.execute(
        select(PAGE_SESSION, PAGE_ACTION, PAGE_OFFER)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(PublicOffer, PublicOffer.action_id == TrainingSession.action_id)
        .where(TrainingSession.id.in_(ids))
    )
    found = {session.id: (session, action, offer) for session, action, offer in rows}
    return [found[session_id] for session_id in ids]


async def place_of(db: AsyncSession, near: str) -> tuple[float, float] | None:
    """A commune's coordinates as the offer's geolocated training places give them: by postal
    code, INSEE code or name (docs/public-search.md says why not a national table)."""
    value = near.strip()
    column = PublicOffer.postcode if value.isdigit() and len(value) == 5 else None
    condition = or_(PublicOffer.postcode == value, PublicOffer.insee == value.upper()) if column is not None \
        else func.lower(PublicOffer.city) == value.lower()
    row = (await db.execute(
        select(func.avg(PublicOffer.latitude), func.avg(PublicOffer.longitude))
        .where(condition, PublicOffer.latitude.is_not(None), PublicOffer.longitude.is_not(None))
    )).one()
    return (float(row[0]), float(row[1])) if row[0] is not None else None


async def marks_by(db: AsyncSession, column, keys: set) -> dict:
    """key -> (number of reviews, sums of each mark) of the reviews whose `column` is in `keys`."""
    if not keys:
        return {}
    sums = [func.sum(getattr(SatisfactionReview, mark)) for mark in MARKS]
    rows = await db.execute(select(column, func.count(), *sums).where(column.in_(keys)).group_by(column))
    return {row[0]: (row[1], dict(zip(MARKS, row[2:], strict=True))) for row in rows}


async def organisation_marks(db: AsyncSession, sirets: set, min_base: int) -> tuple[dict, dict]:
    """For these SIRETs, in one query that the covering index `ix_satisfaction_reviews_organisation_marks`
    answers without reading the table: SIRET -> (number of reviews, sums of each mark), as
    `marks_by` gives them, and SIRET -> how many of its reviews are in groups (a training, or
    none) below the minimum base."""
    if not sirets:
        return {}, {}
    column = SatisfactionReview.organisation_siret
    groups = (select(column.label("siret"), func.count().label("reviews"),
                     *(func.sum(getattr(SatisfactionReview, mark)).label(mark) for mark in MARKS))
              .where(column.in_(sirets)).group_by(column, SatisfactionReview.action_id).subquery())
    rows = await db.execute(select(
        groups.c.siret, func.sum(groups.c.reviews),
        func.sum(case((groups.c.reviews < min_base, groups.c.reviews), else_=0)),
        *(func.sum(groups.c[mark]).label(mark) for mark in MARKS),
    ).group_by(groups.c.siret))
    totals, small = {}, {}
    for siret, reviews, in_small_groups, *sums in rows:
        # int(): PostgreSQL's SUM of counts is a NUMERIC
        totals[siret] = (int(reviews), dict(zip(MARKS, sums, strict=True)))
        small[siret] = int(in_small_groups)
    return totals, small


async def exits_and_outcomes(db: AsyncSession, action_ids: set[uuid.UUID], horizon: int = RESULT_HORIZON_MONTHS) -> tuple[dict, dict]:
    """In one query: action id -> [(file id, exit date)] of the exited files of these actions'
    sessions, and file id -> {source: situation} at the horizon for those files (the result
    counts no other file's situation)."""
    if not action_ids:
        return {}, {}
    rows = await db.execute(
        select(TrainingSession.action_id, Dossier.id, Dossier.exit_date, Outcome.source, Outcome.situation)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .outerjoin(Outcome, and_(Outcome.dossier_id == Dossier.id, Outcome.horizon_months == horizon))
        .where(TrainingSession.action_id.in_(action_ids), Dossier.status == "exited", Dossier.exit_date.is_not(None))
    )
    exits: dict[uuid.UUID, list[tuple[uuid.UUID, date]]] = {}
    outcomes: dict[uuid.UUID, dict[str, OutcomeSituation]] = {}
    for action_id, dossier_id, exit_date, source, situation in rows:
        if dossier_id not in outcomes:  # a file's first row (one per outcome it has)
            outcomes[dossier_id] = {}
            exits.setdefault(action_id, []).append((dossier_id, exit_date))
        if source is not None:
            outcomes[dossier_id][source] = OutcomeSituation(situation)
    return exits, outcomes


async def training_of(db: AsyncSession, action_id: uuid.UUID, today: date):
    """An action with a public offer row and its sessions not cancelled and not over; None if none."""
    found = (await db.execute(select(Action, PublicOffer).join(PublicOffer, PublicOffer.action_id == Action.id)
                              .where(Action.id == action_id))).unique().one_or_none()
    if found is None:
        return None
    sessions = (await db.execute(
        select(TrainingSession).where(TrainingSession.action_id == action_id, TrainingSession.cancelled_at.is_(None),
                                      TrainingSession.end_date >= today)
        .order_by(TrainingSession.start_date, TrainingSession.id)
    )).unique().scalars().all()
    return found[0], found[1], list(sessions)


async def comments_of(db: AsyncSession, action_id: uuid.UUID, limit: int) -> list[str]:
    """The training's published review comments, newest first."""
    rows = await db.execute(
        select(SatisfactionReview.comment)
        .where(SatisfactionReview.action_id == action_id, SatisfactionReview.comment.is_not(None))
        .order_by(SatisfactionReview.review_date.desc(), SatisfactionReview.review_id).limit(limit)
    )
    return list(rows.scalars())
