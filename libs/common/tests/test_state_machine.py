"""The shared state machine: the table decides, the move and its log row commit together."""

from __future__ import annotations

import uuid
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pacte_common import db as dbm
from pacte_common.clock import age_on
from pacte_common.db import TransitionLogColumns
from pacte_common.state_machine import (
    StateMachine,
    Transition,
    TransitionRefused,
    table,
)
from pacte_common.tracing import current_traceparent, new_traceparent, trace_id_of
from sqlalchemy import ForeignKey, String, Uuid, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    BROKEN = "broken"


class Press(StrEnum):
    GO = "go"
    STOP = "stop"
    BREAK = "break"
    REPAIR = "repair"


def _not_locked(subject) -> str | None:
    return "the light is locked" if getattr(subject, "locked", False) else None


LIGHT = StateMachine(
    "light",
    (
        Transition(Light.RED, Press.GO, Light.GREEN, {"driver"}, guard=_not_locked),
        Transition(Light.GREEN, Press.STOP, Light.RED, {"driver"}),
        *table([((Light.RED, Light.GREEN), Press.BREAK, Light.BROKEN)]),
        # the repair decides the colour: two rows for one (state, action)
        Transition(Light.BROKEN, Press.REPAIR, Light.RED, {"technician"}),
        Transition(Light.BROKEN, Press.REPAIR, Light.GREEN, {"technician"}),
    ),
)


class Base(DeclarativeBase):
    metadata = dbm.new_metadata()


class Lamp(Base):
    __tablename__ = "lamps"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(20))


class LampTransition(TransitionLogColumns, Base):
    __tablename__ = "lamp_transitions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    lamp_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lamps.id"))


def test_the_table_answers_what_is_allowed_and_by_whom():
    assert LIGHT.allowed_actions(Light.RED) == [Press.GO, Press.BREAK]
    assert LIGHT.allowed_actions(Light.RED, role="technician") == [Press.BREAK]
    assert LIGHT.step(Light.RED, Press.GO, role="driver").target is Light.GREEN
    assert LIGHT.sources_of(Press.BREAK) == {Light.RED, Light.GREEN}
    with pytest.raises(TransitionRefused) as refused:
        LIGHT.step(Light.GREEN, Press.GO)
    assert refused.value.allowed == ["stop", "break"]
    with pytest.raises(TransitionRefused):
        LIGHT.step(Light.RED, Press.GO, role="passenger")


def test_a_guard_refuses_with_its_reason():
    class Locked:
        status, locked = Light.RED, True

    with pytest.raises(TransitionRefused, match="locked"):
        LIGHT.step(Light.RED, Press.GO, subject=Locked())


def test_a_decided_target_must_be_named_and_must_be_in_the_table():
    with pytest.raises(ValueError, match="several targets"):
        LIGHT.step(Light.BROKEN, Press.REPAIR)
    assert LIGHT.step(Light.BROKEN, Press.REPAIR, target=Light.GREEN).target is Light.GREEN
    assert not LIGHT.can(Light.BROKEN, Press.REPAIR, target=Light.BROKEN)


@given(st.lists(st.sampled_from(list(Press)), max_size=30), st.sampled_from(list(Light)))
def test_every_accepted_step_follows_a_row_and_every_refusal_names_a_missing_one(actions, start):
    state = start
    for action in actions:
        rows = [t for t in LIGHT.transitions if t.source == state and t.action == action]
        try:
            transition = LIGHT.step(state, action, target=rows[0].target if rows else None)
        except TransitionRefused as refused:
            assert not rows
            assert action.value not in refused.allowed
            continue
        assert transition in rows
        state = transition.target


async def test_a_move_changes_the_state_and_logs_who_when_why_and_the_trace_in_one_commit(database_url):
    engine = dbm.create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    factory = dbm.session_factory(engine)
    traceparent = new_traceparent()
    token = current_traceparent.set(traceparent)
    try:
        async with factory() as db:
            lamp = Lamp(id=uuid.uuid4(), status=Light.RED.value)
            db.add(lamp)
            LIGHT.record_creation(db, lamp, log=LampTransition, actor="installer", lamp_id=lamp.id)
            moved = LIGHT.move(db, lamp, Press.GO, log=LampTransition, actor="driver-1", role="driver",
                               reason="morning", lamp_id=lamp.id)
            assert moved.source is Light.RED and moved.target is Light.GREEN
            # A refused move changes nothing and adds nothing.
            with pytest.raises(TransitionRefused):
                LIGHT.move(db, lamp, Press.GO, log=LampTransition, actor="driver-1", lamp_id=lamp.id)
            await db.commit()
        async with factory() as db:
            stored = await db.get(Lamp, lamp.id)
            log = (await db.scalars(select(LampTransition).order_by(LampTransition.id))).all()
        assert stored.status == "green"
        assert [(r.action, r.from_status, r.to_status, r.actor) for r in log] == [
            ("create", None, "red", "installer"), ("go", "red", "green", "driver-1")
        ]
        assert log[1].reason == "morning" and log[1].trace_id == trace_id_of(traceparent)
        assert log[1].at.tzinfo is not None
    finally:
        current_traceparent.reset(token)
        await engine.dispose()


def test_age_counts_whole_years_and_leap_day_birthdays_on_the_first_of_march():
    from datetime import date

    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18
    assert age_on(date(2000, 6, 15), date(2026, 6, 15)) == 26


def test_a_set_based_move_gets_the_same_check_and_the_same_log_columns():
    token = current_traceparent.set(new_traceparent())
    try:
        row = LIGHT.checked_row(Light.GREEN, Press.STOP, actor="driver-2", role="driver", reason="red ahead", lamp_id=7)
        assert row["trace_id"] == trace_id_of(current_traceparent.get())
    finally:
        current_traceparent.reset(token)
    assert {k: row[k] for k in ("action", "from_status", "to_status", "actor", "reason", "lamp_id")} == {
        "action": "stop", "from_status": "green", "to_status": "red", "actor": "driver-2", "reason": "red ahead",
        "lamp_id": 7}
    with pytest.raises(TransitionRefused):
        LIGHT.checked_row(Light.RED, Press.STOP, actor="driver-2")
    created = LIGHT.creation_row(Light.RED, actor="installer", action="install", lamp_id=7)
    assert (created["from_status"], created["to_status"], created["action"]) == (None, "red", "install")
