"""Rendering of api/public.py's answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from insights.api.schemas import (
    PublicMarks,
    PublicOrganisation,
    PublicPlace,
    PublicResult,
    PublicReviews,
    PublicSession,
    PublicTraining,
    PublicTrainingSession,
)
from insights.db.models import Action, PublicOffer, SatisfactionReview, TrainingSession
from insights.db.public_search import exits_and_outcomes, marks_by, organisation_marks
from insights.domain.public_search import (
    MARKS,
    Around,
    Marks,
    Result,
    employment_result,
    mean_marks,
    next_meeting,
)


def marks_out(marks: Marks) -> PublicMarks:
    return PublicMarks(reviews=marks.reviews, below_min_base=marks.below_min_base, **marks.means)


def result_out(result: Result) -> PublicResult:
    return PublicResult(**result.__dict__)


def organisation_out(action: Action, offer: PublicOffer) -> PublicOrganisation:
    if action.delivering_siret:
        return PublicOrganisation(siret=action.delivering_siret, name=action.delivering_name)
    return PublicOrganisation(siret=action.organisation_siret, name=offer.organisation_name)


def place_out(offer: PublicOffer) -> PublicPlace:
    return PublicPlace(postcode=offer.postcode, city=offer.city, latitude=offer.latitude, longitude=offer.longitude)


def places_left(session: TrainingSession) -> int | None:
    return None if session.places_unknown else max(session.places - session.places_taken, 0)


@dataclass
class Figures:
    """The marks and results of a set of actions, read in three queries."""

    by_action: dict
    by_organisation: dict
    withheld_by_organisation: dict
    exits: dict
    outcomes: dict
    today: date
    min_base: int

    def reviews(self, action: Action) -> PublicReviews:
        empty: tuple[int, dict] = (0, {name: None for name in MARKS})
        training = self.by_action.get(action.id, empty)
        organisation = self.by_organisation.get(action.organisation_siret, empty)
        withheld = self.withheld_by_organisation.get(action.organisation_siret, 0)
        return PublicReviews(training=marks_out(mean_marks(*training, self.min_base)),
                             organisation=marks_out(mean_marks(*organisation, self.min_base, withheld_part=withheld)))

    def result(self, action: Action) -> PublicResult:
        return result_out(employment_result(self.exits.get(action.id, []), self.outcomes, self.today, self.min_base))


async def figures_of(db, actions: list[Action], today: date, min_base: int) -> Figures:
    ids = {action.id for action in actions}
    # ANOTEA's reviews are stored under the SIRET of the training's organisation (docs/satisfaction.md)
    sirets = {action.organisation_siret for action in actions}
    by_organisation, withheld_by_organisation = await organisation_marks(db, sirets, min_base)
    exits, outcomes = await exits_and_outcomes(db, ids)
    return Figures(
        by_action=await marks_by(db, SatisfactionReview.action_id, ids),
        by_organisation=by_organisation,
        withheld_by_organisation=withheld_by_organisation,
        exits=exits,
        outcomes=outcomes,
        today=today, min_base=min_base,
    )


def public_session_out(session, action, offer, figures: Figures, around: Around | None) -> PublicSession:
    """A result from its `page_rows` (session, action, offer)."""
    distance = None
    if around is not None and offer.latitude is not None and offer.longitude is not None:
        distance = round(around.distance_km(offer.latitude, offer.longitude), 1)
    return PublicSession(
        session_id=session.id, training_id=action.id, title=action.title, organisation=organisation_out(action, offer),
        start_date=session.start_date, end_date=session.end_date, places_left=places_left(session),
        permanent_entries=session.permanent_entries, distance_learning=action.distance_learning,
        place=place_out(offer), distance_km=distance, formacode=action.formacode,
        next_information_meeting=next_meeting(session.information_meetings, figures.today),
        reviews=figures.reviews(action), employment_6_months=figures.result(action),
    )


def public_training_out(action: Action, offer: PublicOffer, sessions: list[TrainingSession], figures: Figures,
                        reviews: PublicReviews, comments: list[str], today: date) -> PublicTraining:
    codes = {kind: list((offer.codes or {}).get(kind, [])) for kind in ("formacode", "nsf", "rome")}
    return PublicTraining(
        training_id=action.id, title=action.title, objectives=offer.objectives, expected_results=offer.expected_results,
        content=offer.content, organisation=organisation_out(action, offer), certifying=action.certifying,
        rncp_code=action.rncp_code, codes=codes, hours_in_centre=action.hours_in_centre, hours_in_company=action.hours_in_company,
        distance_learning=action.distance_learning, place=place_out(offer),
        sessions=[PublicTrainingSession(
            session_id=s.id, start_date=s.start_date, end_date=s.end_date, places_left=places_left(s),
            open=s.recruitment_state == "open" and not s.cancelled, next_information_meeting=next_meeting(s.information_meetings, today),
        ) for s in sessions],
        reviews=reviews, comments=comments, employment_6_months=figures.result(action),
    )
