"""`pacte insights rebuild` (docs/insights.md §4): with insights stopped, its read models emptied
and every topic replayed from the beginning give the same indicators as before."""

from datetime import date

from insights.main import create_app
from pacte_testing import auth_header, eventually, running
from pacte_tools.insights_cli import rebuild

QUERY = "/indicators?from=2026-01-01&to=2026-12-31&compare=departement"


async def test_a_rebuild_from_the_topics_gives_the_same_indicators(sessions, settings):
    visa = await sessions.catalogue(places=4)
    prepa = await sessions.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", places=6, departement="49",
                                     start=date(2026, 1, 5), end=date(2026, 3, 27))
    for session, sex in ((visa, "F"), (prepa, "M"), (prepa, "F")):
        dossier = await sessions.enrol(session["id"], profile=sessions.profile_body(sex=sex))
        await sessions.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    await sessions.act(dossier["id"], "exit", {"exit_date": "2026-02-13", "kind": "dropout", "dropout_reason": "employment"})

    region = auth_header(settings, "region", "region")
    async with running(create_app(settings)) as client:
        async def caught_up():
            body = (await client.get(QUERY, headers=region)).json()
            return body if body["all"]["entries"] == 3 and body["all"]["dropout_rate"]["numerator"] == 1 else None

        before = await eventually(caught_up, 30, interval=0.1, message="the files reached insights")

    lines: list[str] = []
    held = await rebuild(settings, report=lines.append, timeout_s=60)
    assert held["dossiers"] == 3 and held["training_sessions"] == 2 and held["inbox_messages"] > 0, held
    assert lines[0].startswith("emptied:") and lines[-1].startswith("replayed:"), lines

    async with running(create_app(settings.model_copy(update={"consume": False}))) as client:  # what the replay built, nothing more
        after = (await client.get(QUERY, headers=region)).json()
    assert after == before
