"""The public search's index and queries (docs/public-search.md), over insights' read models.

One `public_offers` row per action (`insights.db.models.PublicOffer`): the text the keyword
search reads (title and objectives), its French stems, the training place (postal code, INSEE
code, city, coordinates) and what a training's page shows; one `public_offer_codes` row per
FORMACODE, NSF and ROME code. They are derived from the action's snapshot and rewritten by the
read-model use case that applies it (`refresh_offer`), in the consumer's transaction.

Full text: on PostgreSQL a GIN index on `to_tsvector('french', words)` (made by the migration);
on SQLite an FTS5 table `public_offers_fts` (rowid = `public_offers.id`) over the stems, which
SQLite cannot compute in French itself (its tokenizers stem English only).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from pacte_common.contracts.outcomes import OutcomeSituation
from pacte_common.contracts.sessions import OfferDetails
from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, load_only

from insights.db.models import (
    PUBLIC_OFFERS_FTS,
    Action,
    Dossier,
    Outcome,
    PublicOffer,
    PublicOfferCode,
    SatisfactionReview,
    TrainingSession,
)
from insights.domain.public_search import (
    KM_PER_DEGREE,
    MARKS,
    RESULT_HORIZON_MONTHS,
    Around,
    offer_codes,
    searchable_text,
    stems,
)

FTS_TABLE = PUBLIC_OFFERS_FTS


# ---------------------------------------------------------------- keeping the index in step


def offer_row(action_id: uuid.UUID, title: str, formacode: str | None, offer: OfferDetails | None) -> dict:
    offer = offer or OfferDetails()
    place = offer.place
    words = searchable_text(title, offer.objectives)
    return {
        "action_id": action_id, "words": words, "stems": " ".join(stems(words)),
        "postcode": place and place.postcode, "insee": place and place.insee, "city": place and place.city,
        "latitude": place and place.latitude, "longitude": place and place.longitude,
        "objectives": offer.objectives, "expected_results": offer.expected_results, "content": offer.content,
        "organisation_name": offer.organisation_name,
        "codes": {"formacode": [c for c in [formacode] if c] + list(offer.formacodes), "nsf": list(offer.nsf_codes),
                  "rome": list(offer.rome_codes)},
    }


async def refresh_offers(db: AsyncSession, offers: list[tuple[uuid.UUID, str, str | None, OfferDetails | None]]) -> None:
    """Rewrite the index rows of these (action id, title, FORMACODE, offer details) actions: their
    offer rows, their codes and, on SQLite, their FTS rows."""
    if not offers:
        return
    ids = [offer[0] for offer in offers]
    sqlite = db.bind.dialect.name == "sqlite"
    if sqlite:
        old = list((await db.execute(select(PublicOffer.id).where(PublicOffer.action_id.in_(ids)))).scalars())
        if old:
            await db.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN :ids").bindparams(bindparam("ids", expanding=True)),
                             {"ids": old})
    await db.execute(delete(PublicOffer).where(PublicOffer.action_id.in_(ids)))
    await db.execute(delete(PublicOfferCode).where(PublicOfferCode.action_id.in_(ids)))
    rows = [offer_row(*offer) for offer in offers]
    await db.execute(insert(PublicOffer), rows)
    codes = [{"kind": kind, "code": code, "action_id": row["action_id"]} for row in rows for kind, code in sorted(offer_codes(row["codes"]))]
    if codes:
        await db.execute(insert(PublicOfferCode), codes)
    if sqlite:
        fresh = (await db.execute(select(PublicOffer.id, PublicOffer.stems).where(PublicOffer.action_id.in_(ids)))).all()
        await db.execute(text(f"INSERT INTO {FTS_TABLE} (rowid, stems) VALUES (:id, :stems)"),
                         [{"id": row.id, "stems": row.stems} for row in fresh])


async def keep_offers(db: AsyncSession, offers: list[tuple[uuid.UUID, str, str | None, OfferDetails | None]]) -> None:
    """These actions' index rows as their snapshots give them (one per action): rewritten only
    where they differ (the sessions of one action each carry it: an import of many sessions
    rewrites it once). A snapshot without `offer` (published before it existed, a replay) tells
    nothing of the offer: the rows held are kept."""
    if not offers:
        return
    wanted = {offer[0]: offer_row(*offer) for offer in offers}
    columns = [PublicOffer.__table__.c[name] for name in next(iter(wanted.values()))]
    held = {row["action_id"]: row for row in (await db.execute(
        select(*columns).where(PublicOffer.action_id.in_(list(wanted))))).mappings()}
    await refresh_offers(db, [
        offer for offer in offers
        if (row := held.get(offer[0])) is None
        or (offer[3] is not None and any(row[name] != value for name, value in wanted[offer[0]].items()))
    ])


async def empty_fts(db: AsyncSession) -> None:
    """Empties SQLite's full-text table (a rebuild: its rows follow `public_offers`')."""
    if db.bind.dialect.name == "sqlite":
        await db.execute(text(f"DELETE FROM {FTS_TABLE}"))


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
        .options(load_only(TrainingSession.start_date, TrainingSession.id))
        .join(Action, TrainingSession.action_id == Action.id)
        .join(PublicOffer, PublicOffer.action_id == TrainingSession.action_id)
        .where(TrainingSession.cancelled.is_(False), TrainingSession.recruitment_state == "open")
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
                     Action.delivering_siret, Action.delivering_name)
PAGE_OFFER = Bundle("offer", PublicOffer.postcode, PublicOffer.city, PublicOffer.latitude, PublicOffer.longitude,
                    PublicOffer.organisation_name)


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
                              .where(Action.id == action_id))).one_or_none()
    if found is None:
        return None
    sessions = (await db.execute(
        select(TrainingSession).where(TrainingSession.action_id == action_id, TrainingSession.cancelled.is_(False),
                                      TrainingSession.end_date >= today)
        .order_by(TrainingSession.start_date, TrainingSession.id)
    )).scalars().all()
    return found[0], found[1], list(sessions)


async def comments_of(db: AsyncSession, action_id: uuid.UUID, limit: int) -> list[str]:
    """The training's published review comments, newest first."""
    rows = await db.execute(
        select(SatisfactionReview.comment)
        .where(SatisfactionReview.action_id == action_id, SatisfactionReview.comment.is_not(None))
        .order_by(SatisfactionReview.review_date.desc(), SatisfactionReview.review_id).limit(limit)
    )
    return list(rows.scalars())
