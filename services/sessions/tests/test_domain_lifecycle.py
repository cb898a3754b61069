"""The state machine, pair by pair, without database or broker."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pacte_common.contracts.sessions import DossierStatus as S
from sessions.domain.lifecycle import (
    STATUS_LABELS,
    TRANSITIONS,
    TransitionRefused,
    allowed_actions,
    transition,
)
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
        step = transition(state, action)
        assert (step.from_status, step.to_status) == (state, EXPECTED[(state, action)])
    else:
        with pytest.raises(TransitionRefused) as refused:
            transition(state, action)
        assert refused.value.current is state
        assert action not in refused.value.allowed


def test_table_is_exactly_the_documented_lifecycle():
    assert TRANSITIONS == EXPECTED
    assert set(STATUS_LABELS) == set(S)
    assert allowed_actions(S.EXITED) == [] and allowed_actions(S.CANCELLED) == []


@given(st.lists(st.sampled_from(list(A)), max_size=30))
def test_any_sequence_of_actions_stays_in_the_lifecycle(actions):
    """Whatever is attempted, an exited or cancelled file never moves again and entry happens once."""
    state, entries = S.ENROLLED, 0
    for action in actions:
        try:
            step = transition(state, action)
        except TransitionRefused:
            assert action not in allowed_actions(state)
            continue
        assert state not in (S.EXITED, S.CANCELLED)
        entries += action is A.ENTER
        state = step.to_status
    assert entries <= 1
