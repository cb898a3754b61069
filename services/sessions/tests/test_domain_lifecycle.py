"""The state machine, pair by pair, without database or broker."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pacte_common.contracts.sessions import DossierStatus as S
from pacte_common.state_machine import TransitionRefused
from sessions.domain.lifecycle import DOSSIER, STATUS_LABELS
from sessions.domain.lifecycle import (
    DossierAction as A,
)

EXPECTED = {
    (S.ENROLLED, A.ENTER): S.IN_TRAINING,
    (S.ENROLLED, A.CANCEL): S.CANCELLED,
    (S.IN_TRAINING, A.INTERRUPT): S.INTERRUPTED,
    (S.IN_TRAINING, A.EXIT): S.EXITED,
    (S.IN_TRAINING, A.CANCEL): S.CANCELLED,
    (S.INTERRUPTED, A.RESUME): S.IN_TRAINING,
    (S.INTERRUPTED, A.EXIT): S.EXITED,
    (S.INTERRUPTED, A.CANCEL): S.CANCELLED,
}
ALL_PAIRS = [(state, action) for state in S for action in A]


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS, ids=[f"{s.value}-{a.value}" for s, a in ALL_PAIRS])
def test_every_state_action_pair(state, action):
    if (state, action) in EXPECTED:
        step = DOSSIER.step(state, action)
        assert (step.source, step.target) == (state, EXPECTED[(state, action)])
    else:
        with pytest.raises(TransitionRefused) as refused:
            DOSSIER.step(state, action)
        assert refused.value.state == state
        assert action not in refused.value.allowed


def test_table_is_exactly_the_documented_lifecycle():
    assert {(t.source, t.action): t.target for t in DOSSIER.transitions} == EXPECTED
    assert len(DOSSIER.transitions) == len(EXPECTED)
    assert set(STATUS_LABELS) == set(S)
    assert DOSSIER.allowed_actions(S.EXITED) == [] and DOSSIER.allowed_actions(S.CANCELLED) == []


@given(st.lists(st.sampled_from(list(A)), max_size=30))
def test_any_sequence_of_actions_stays_in_the_lifecycle(actions):
    """Whatever is attempted, an exited or cancelled file never moves again and entry happens once."""
    state, entries = S.ENROLLED, 0
    for action in actions:
        try:
            step = DOSSIER.step(state, action)
        except TransitionRefused:
            assert action not in DOSSIER.allowed_actions(state)
            continue
        assert state not in (S.EXITED, S.CANCELLED)
        entries += action is A.ENTER
        state = step.target
    assert entries <= 1
