"""Pure rules: perimeter, NIR for AGORA, legal order and planning, flow statuses, back-fill cut-off."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from agora_gateway.domain.agora_file import (
    TRANSITIONS,
    FileState,
    Operation,
    TraineeStep,
    allowed_operations,
    apply,
    plan,
    told_after,
)
from agora_gateway.domain.backfill import BackfillReport, LineOutcome, before_cutoff
from agora_gateway.domain.flows import (
    FLOW,
    FlowAction,
    FlowStatus,
    idempotency_key,
    is_transient,
    requeue_delay,
)
from agora_gateway.domain.perimeter import (
    DEFAULT_EXCLUDED_CATEGORIES,
    PerimeterStatus,
    decide_perimeter,
)
from agora_gateway.domain.requests import NotSendable, agora_nir
from hypothesis import given
from hypothesis import strategies as st
from pacte_common.contracts.people import PersonIdentity
from pacte_common.contracts.sessions import AgoraCategory
from pacte_common.state_machine import TransitionRefused
from pacte_common.validators import nir_key, validate_nir

# ------------------------------------------------------------------ perimeter table

EXPECTED = {
    AgoraCategory.STANDARD: PerimeterStatus.IN_PERIMETER,
    AgoraCategory.HEALTH_SOCIAL: PerimeterStatus.EXCLUDED,
    AgoraCategory.PSAD: PerimeterStatus.EXCLUDED,
    AgoraCategory.PRISONERS: PerimeterStatus.EXCLUDED,
    AgoraCategory.CRP: PerimeterStatus.EXCLUDED,
    AgoraCategory.INDIVIDUAL_AID: PerimeterStatus.EXCLUDED,
    AgoraCategory.REGIONAL_VAE: PerimeterStatus.EXCLUDED,
    AgoraCategory.AID_OUTSIDE_IS: PerimeterStatus.EXCLUDED,
}


def test_every_category_of_the_contract_has_a_decision():
    assert set(EXPECTED) == set(AgoraCategory)


@pytest.mark.parametrize("category", list(AgoraCategory))
@pytest.mark.parametrize("delegated", [False, True])
def test_perimeter_table(category, delegated):
    decision = decide_perimeter(category, delegated, DEFAULT_EXCLUDED_CATEGORIES)
    expected = EXPECTED[category]
    if expected is PerimeterStatus.IN_PERIMETER and delegated:
        expected = PerimeterStatus.DELEGATED
    assert decision.status is expected
    assert decision.sendable is (expected is PerimeterStatus.IN_PERIMETER)
    if expected is PerimeterStatus.EXCLUDED:
        assert decision.reason_code == category.value and decision.reason
    if expected is PerimeterStatus.DELEGATED:
        assert decision.reason_code == "delegated_to_france_travail" and "France Travail" in decision.reason


def test_excluded_categories_are_data():
    assert decide_perimeter("psad", False, frozenset()).status is PerimeterStatus.IN_PERIMETER
    assert decide_perimeter("standard", False, {"standard"}).status is PerimeterStatus.EXCLUDED


# ------------------------------------------------------------------ NIR → 13 characters

nir_bodies = st.builds(
    lambda sex, year, month, dept, commune, order: f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}",
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["44", "75", "2A", "2B", "97"]),
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(nir_bodies)
def test_nir_for_agora_is_the_first_13_characters_without_key(body):
    nir = body + f"{nir_key(body):02d}"
    sent = agora_nir(PersonIdentity(birth_name="X", first_names="Y", nir=nir))
    assert sent == body and len(sent) == 13


@given(nir_bodies, st.integers(0, 99))
def test_a_nir_with_a_wrong_key_is_never_sent(body, key):
    if key == nir_key(body):
        return
    with pytest.raises(NotSendable) as refused:
        agora_nir(PersonIdentity(birth_name="X", first_names="Y", nir=body + f"{key:02d}"))
    assert refused.value.code == "invalid_nir"


def test_no_nir_sends_none():
    assert agora_nir(PersonIdentity(birth_name="X", first_names="Y", nir=None)) is None
    assert validate_nir("1 90 01 75 123 456 " + f"{nir_key('1900175123456'):02d}")[:13] == "1900175123456"


# ------------------------------------------------------------------ legal order and planning


def test_transition_table_is_the_legal_order():
    assert allowed_operations(FileState.NONE) == [Operation.CREATE]
    assert set(allowed_operations(FileState.INTERRUPTED)) == {Operation.RESUME, Operation.EXIT, Operation.CANCEL, Operation.ADD_NIR}
    assert apply(FileState.EXITED, Operation.SETTLE) is FileState.SETTLED
    with pytest.raises(ValueError):
        apply(FileState.CREATED, Operation.EXIT)
    with pytest.raises(ValueError):
        apply(FileState.CANCELLED, Operation.ENTER)
    assert all(op in TRANSITIONS for op in Operation if op is not Operation.BULK_LOAD)


def test_plan_of_a_normal_journey():
    told, operations = FileState.NONE, []
    for step in (TraineeStep.ENROLLED, TraineeStep.ENTERED, TraineeStep.INTERRUPTED, TraineeStep.RESUMED, TraineeStep.EXITED):
        planned = plan(told, step, nir_known=True, nir_told=True)
        told = told_after(told, planned)
        operations += planned
    assert operations == [Operation.CREATE, Operation.ENTER, Operation.INTERRUPT, Operation.RESUME, Operation.EXIT, Operation.SETTLE]
    assert told is FileState.SETTLED


def test_plan_catches_up_from_a_later_event_and_adds_the_nir():
    assert plan(FileState.NONE, TraineeStep.EXITED, nir_known=True, nir_told=False) == [
        Operation.CREATE, Operation.ENTER, Operation.EXIT, Operation.SETTLE
    ]
    assert plan(FileState.IN_TRAINING, TraineeStep.IDENTITY_UPDATED, nir_known=True, nir_told=False) == [Operation.ADD_NIR]
    assert plan(FileState.IN_TRAINING, TraineeStep.IDENTITY_UPDATED, nir_known=True, nir_told=True) == []
    assert plan(FileState.NONE, TraineeStep.CANCELLED, nir_known=True, nir_told=False) == []
    assert plan(FileState.EXITED, TraineeStep.CANCELLED, nir_known=True, nir_told=True) == [Operation.CANCEL]


@given(st.lists(st.sampled_from(list(TraineeStep)), max_size=12), st.booleans())
def test_any_sequence_of_events_plans_only_legal_operations(steps, nir_known):
    told, nir_told = FileState.NONE, False
    for step in steps:
        planned = plan(told, step, nir_known=nir_known, nir_told=nir_told)
        told = told_after(told, planned)  # raises if the order were illegal
        nir_told = nir_told or Operation.ADD_NIR in planned or (Operation.CREATE in planned and nir_known)
        # the same event again (a replay, or a stale copy) plans nothing more
        again = plan(told, step, nir_known=nir_known, nir_told=nir_told)
        assert again == []


# ------------------------------------------------------------------ flow statuses


def test_flow_status_machine():
    assert FLOW.step(FlowStatus.PENDING, FlowAction.CLAIM).target is FlowStatus.SENT
    assert FLOW.step(FlowStatus.SENT, FlowAction.CLAIM).target is FlowStatus.SENT  # lease expired
    assert FLOW.step(FlowStatus.SENT, FlowAction.REQUEUE).target is FlowStatus.PENDING
    assert FLOW.step(FlowStatus.REJECTED, FlowAction.RETRY).target is FlowStatus.PENDING
    for status in (FlowStatus.ACKNOWLEDGED, FlowStatus.EXCLUDED, FlowStatus.DELEGATED, FlowStatus.PENDING):
        with pytest.raises(TransitionRefused):
            FLOW.step(status, FlowAction.RETRY)


def test_idempotency_key_names_file_operation_and_version():
    dossier = uuid.uuid4()
    key = idempotency_key(dossier, 3, "exit", 1)
    assert str(dossier) in key and "exit" in key
    assert key == idempotency_key(dossier, 3, "exit", 1)
    assert key != idempotency_key(dossier, 3, "exit", 2)


@given(st.integers(1, 60))
def test_requeue_delay_grows_and_is_capped(claims):
    assert requeue_delay(claims, 1.0, 60.0) <= 60.0
    assert requeue_delay(claims + 1, 1.0, 60.0) >= requeue_delay(claims, 1.0, 60.0)


def test_transient_answers():
    assert is_transient(503) and is_transient(500) and is_transient(429)
    assert not is_transient(422) and not is_transient(404) and not is_transient(409)


# ------------------------------------------------------------------ back-fill


def test_cutoff_uses_the_entry_date_else_the_session_start():
    cutoff = date(2017, 1, 1)
    assert before_cutoff(date(2016, 12, 31), date(2016, 12, 1), cutoff)
    assert not before_cutoff(date(2017, 1, 1), date(2016, 12, 1), cutoff)
    assert before_cutoff(None, date(2016, 12, 1), cutoff)
    assert not before_cutoff(None, date(2017, 1, 2), cutoff)


def test_report_round_trips():
    report = BackfillReport()
    report.count(LineOutcome.EXCLUDED, "psad")
    report.count(LineOutcome.SENT)
    report.reject("invalid_siret")
    again = BackfillReport.from_dict(report.as_dict())
    assert again.as_dict() == report.as_dict()
    assert again.as_dict()["excluded_total"] == 1 and again.as_dict()["rejected_total"] == 1
