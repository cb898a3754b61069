"""Every (state, action) pair over HTTP: allowed ones move the prescription, the others answer 409.

The expected table is written here from docs/rules.md §3.1, independently of domain/prescription.py.
"""

import pytest
import pytest_asyncio
from orientation.domain.prescription import Status

pytestmark = pytest.mark.asyncio(loop_scope="module")

ORG_ACTIONS = ("positioning", "admit", "refuse", "waitlist")
PRESCRIBER_ACTIONS = ("withdraw", "reorient")

# state → {action: resulting state of the prescription acted on}
ALLOWED = {
    Status.SUBMITTED: {"positioning": "positioning", "admit": "admitted", "refuse": "refused", "waitlist": "waitlisted", "withdraw": "withdrawn"},
    Status.POSITIONING: {"positioning": "positioning", "admit": "admitted", "refuse": "refused", "waitlist": "waitlisted", "withdraw": "withdrawn"},
    Status.WAITLISTED: {"admit": "admitted", "refuse": "refused", "withdraw": "withdrawn"},
    Status.ADMITTED: {},
    Status.REFUSED: {"reorient": "refused"},
    Status.WITHDRAWN: {"reorient": "withdrawn"},
    Status.EXPIRED: {"reorient": "expired"},
    Status.ENTERED: {},
    Status.ADMISSION_CANCELLED: {},
}
BODIES = {
    "positioning": {"date": "2030-03-02", "kind": "test"},
    "refuse": {"reason_code": "not_eligible", "comment": None},
    "admit": None,
    "waitlist": {"comment": "Rang 1"},
    "withdraw": {"reason": "Le bénéficiaire a trouvé un emploi"},
}
PAIRS = [(state, action) for state in Status for action in ORG_ACTIONS + PRESCRIBER_ACTIONS]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sessions(shared_kit):
    return await shared_kit.publish_session(), await shared_kit.publish_session()


async def test_the_table_covers_every_state():
    assert set(ALLOWED) == set(Status)


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s.value}-{a}" for s, a in PAIRS])
async def test_action_in_state(shared_kit, sessions, state, action):
    kit = shared_kit
    home, elsewhere = sessions
    prescription = await kit.drive(state, home)
    pid = prescription["id"]
    headers = kit.org_a if action in ORG_ACTIONS else kit.prescriber_a
    body = {"session_id": str(elsewhere.session_id)} if action == "reorient" else BODIES[action]
    before = await kit.count_rows()

    answer = await kit.act(pid, action, body, {**headers, "If-Match": f'"{prescription["version"]}"'})

    after = await kit.get(pid)
    if action in ALLOWED[state]:
        assert answer.status_code == (201 if action == "reorient" else 200), answer.text
        assert after["status"] == ALLOWED[state][action]
        assert after["version"] == prescription["version"] + 1
        assert answer.headers["ETag"] == f'"{answer.json()["version"]}"'
        if action == "reorient":
            assert answer.json()["status"] == "submitted"
            assert after["next_prescription_id"] == answer.json()["id"]
    else:
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["type"].endswith("/invalid-transition")
        assert problem["current_state"] == state.value
        own = ORG_ACTIONS if action in ORG_ACTIONS else PRESCRIBER_ACTIONS
        assert problem["allowed_actions"] == sorted(a for a in ALLOWED[state] if a in own)
        assert after["version"] == prescription["version"] and after["status"] == state.value
        assert await kit.count_rows() == before  # nothing stored, nothing published
