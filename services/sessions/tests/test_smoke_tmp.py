from datetime import date


async def test_smoke(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"], nir="185054410912314")
    assert dossier["status"] == "enrolled"
    d = await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    assert d["status"] == "in_training", d
    d = await api.act(dossier["id"], "interrupt", {"start_date": "2026-02-02", "reason": "employment", "expected_return_date": "2026-02-20"})
    d = await api.act(dossier["id"], "resume", {"resumption_date": "2026-02-16"})
    r = await api.client.put(f"/dossiers/{dossier['id']}/attendance/2026-01", headers=api.org, json={"planned_hours": "140", "attended_hours": "120", "justified_absence_hours": "7", "unjustified_absence_hours": "3.5", "in_company_hours": "0"})
    assert r.status_code == 201, r.text
    d = await api.act(dossier["id"], "exit", {"exit_date": "2026-06-26", "kind": "completed", "certification_result": "partial", "skill_blocks_obtained": ["RNCP34174BC01"]})
    assert d["cost"] == "1500.00", d
    full = await api.ok("GET", f"/dossiers/{dossier['id']}", api.region)
    print(full)
    print(await api.ok("GET", "/indicators", api.region))
