"""Pure rules, without database or broker: the transition table, ages, names, full sessions."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orientation.api.schemas import RefuseIn
from orientation.domain.catalogue import is_full, open_for_prescription
from orientation.domain.people import (
    birth_date_problem,
    identity_lookup_parts,
    normalise_name,
)
from orientation.domain.prescription import (
    ACTIVE_STATUSES,
    EXPIRABLE_STATUSES,
    PRESCRIPTION,
    REFUSAL_LABELS,
    STATUS_LABELS,
    Action,
    PrescriberKind,
    RefusalReason,
    Role,
    Status,
    prescriber_kind_from_code,
    role_of,
)
from orientation.settings import OrientationSettings
from pacte_common.clock import age_on
from pacte_common.state_machine import TransitionRefused
from pydantic import ValidationError

# docs/rules.md §3, as written there
DOMAIN_REFUSAL_CODES = {
    "prerequisites_not_met", "session_full", "no_show_information_meeting", "no_show_interview",
    "project_not_validated", "not_eligible", "not_mobile", "declined_by_beneficiary", "employment_found",
    "other_training", "personal_constraints", "duplicate", "other",
}
TERMINAL = {Status.ADMISSION_CANCELLED}


def test_refusal_codes_are_domain_codes_with_french_labels():
    assert {r.value for r in RefusalReason} == DOMAIN_REFUSAL_CODES
    assert set(REFUSAL_LABELS) == set(RefusalReason)
    assert set(STATUS_LABELS) == set(Status)


def test_table_is_a_function_of_state_and_action_with_one_role_per_action():
    keys = [(t.source, t.action) for t in PRESCRIPTION.transitions]
    assert len(keys) == len(set(keys))
    for action in Action:
        assert len({t.roles for t in PRESCRIPTION.transitions if t.action is action}) == 1, action
        assert len(PRESCRIPTION.roles_of(action)) == 1, action


def test_every_state_is_reachable_from_submitted():
    reached, frontier = {Status.SUBMITTED}, [Status.SUBMITTED]
    while frontier:
        state = frontier.pop()
        for action in PRESCRIPTION.allowed_actions(state):
            target = PRESCRIPTION.step(state, action).target
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Status)


def test_who_does_what():
    assert {a for a in Action if role_of(a) is Role.TRAINING_ORG} == {
        Action.SCHEDULE_POSITIONING, Action.ADMIT, Action.REFUSE, Action.WAITLIST,
    }
    assert {a for a in Action if role_of(a) is Role.PRESCRIBER} == {Action.WITHDRAW, Action.REORIENT}
    assert {a for a in Action if role_of(a) is Role.SYSTEM} == {Action.EXPIRE, Action.ENTER, Action.CANCEL_ADMISSION}


def test_closed_states_and_expiry():
    assert EXPIRABLE_STATUSES == {Status.SUBMITTED, Status.POSITIONING}
    assert ACTIVE_STATUSES == {Status.SUBMITTED, Status.POSITIONING, Status.ADMITTED, Status.WAITLISTED, Status.ENTERED}
    for state in TERMINAL:
        assert PRESCRIPTION.allowed_actions(state) == []
    assert PRESCRIPTION.allowed_actions(Status.ENTERED) == [Action.CANCEL_ADMISSION]


@given(st.sampled_from(list(Status)), st.sampled_from(list(Action)))
def test_step_agrees_with_allowed_actions(state, action):
    if action in PRESCRIPTION.allowed_actions(state):
        assert PRESCRIPTION.step(state, action).source is state
    else:
        with pytest.raises(TransitionRefused):
            PRESCRIPTION.step(state, action)


@given(st.sampled_from(list(Status)), st.sampled_from(list(Action)), st.sampled_from(list(Role)))
def test_an_action_is_refused_to_the_other_parties(state, action, role):
    if action in PRESCRIPTION.allowed_actions(state) and role is not role_of(action):
        with pytest.raises(TransitionRefused) as refused:
            PRESCRIPTION.step(state, action, role=role)
        assert refused.value.allowed == [a.value for a in PRESCRIPTION.allowed_actions(state, role)]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=0, max_value=120))
def test_age_is_whole_years_elapsed(birth, years):
    try:
        birthday = birth.replace(year=birth.year + years)
    except ValueError:  # 29 February in a common year: the birthday counts on 1 March
        birthday = date(birth.year + years, 3, 1)
    assert age_on(birth, birthday) == years
    assert age_on(birth, birthday - timedelta(days=1)) == years - 1


def test_birth_date_rules():
    today = date(2026, 11, 26)
    assert birth_date_problem(date(2026, 11, 27), today, 16) == "birth date is in the future"
    assert "at least 16" in birth_date_problem(date(2010, 11, 27), today, 16)
    assert birth_date_problem(date(2010, 11, 26), today, 16) is None


@given(st.text(alphabet="abcdefghijéèëçÀÉ -'", min_size=1, max_size=30))
def test_normalised_names_ignore_case_accents_and_separators(name):
    assert normalise_name(name) == normalise_name(name.upper()) == normalise_name(name.replace("-", " "))


def test_identity_parts():
    parts = identity_lookup_parts("Le Gall-Hervé", "Élodie", date(1990, 1, 2), "F")
    assert parts == ("identity", "LE GALL HERVE", "ELODIE", "1990-01-02", "F")


def test_prescriber_kind_from_structure_code():
    prefixes = OrientationSettings().prescriber_kind_by_code_prefix
    assert prescriber_kind_from_code("PE-44001", prefixes) is PrescriberKind.FRANCE_TRAVAIL
    assert prescriber_kind_from_code("ml-49002", prefixes) is PrescriberKind.MISSION_LOCALE
    assert prescriber_kind_from_code("XX-1", prefixes) is None


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_full_when_places_are_taken(places, taken, awaiting):
    assert is_full("open", places, taken, awaiting) == (taken + awaiting >= places)
    assert is_full("full", places, taken, awaiting)


def test_open_for_prescription():
    states = ["open", "full"]
    assert open_for_prescription("open", False, states)
    assert open_for_prescription("full", False, states)
    assert not open_for_prescription("closed", False, states)
    assert not open_for_prescription("open", True, states)


def test_refusal_body_rules():
    assert RefuseIn(reason_code="prerequisites_not_met").comment is None
    with pytest.raises(ValidationError) as error:
        RefuseIn(reason_code="other")
    assert error.value.errors()[0]["loc"] == ("comment",)
    assert RefuseIn(reason_code="other", comment="Horaires incompatibles").comment
