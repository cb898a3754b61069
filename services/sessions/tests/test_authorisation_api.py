"""The authorisation matrix: who may do what, answered 401, 403 or 404 (docs/conventions.md §2.5)."""

from datetime import timedelta

from pacte_common.settings import ServiceSettings
from pacte_tools.dev_issuer import mint_token

ATTENDANCE = {"planned_hours": "10", "attended_hours": "10", "justified_absence_hours": "0", "unjustified_absence_hours": "0"}


async def test_authorisation_matrix(api):
    own = await api.catalogue(siret=api.SIRET_A)
    foreign = await api.catalogue(siret=api.SIRET_B)
    dossier = await api.enrol(own["id"])
    did = dossier["id"]

    region = api.region
    org_a = api.org
    org_b = api.as_("training_org", api.SIRET_B)
    prescriber = api.as_("prescriber", api.PRESCRIBER)
    agency = api.as_("paying_agency", "ASP")
    nobody: dict = {}
    expired = {"Authorization": "Bearer " + mint_token(api.settings, "region", "region", ttl=timedelta(seconds=-60))}
    forged = {"Authorization": "Bearer " + mint_token(ServiceSettings(jwt_secret="another-secret-of-enough-length-0123456789"), "region", "region")}

    programme = api.programme_body("ACCES-EMPLOI", "acces")
    matrix = [
        # (method, url, json, caller, expected status)
        ("POST", "/programmes", programme, nobody, 401),
        ("POST", "/programmes", programme, expired, 401),
        ("POST", "/programmes", programme, forged, 401),
        ("POST", "/programmes", programme, org_a, 403),
        ("POST", "/programmes", programme, prescriber, 403),
        ("POST", "/actions", api.action_body("VISA-METIERS"), org_a, 403),
        ("POST", "/sessions", {"action_id": own["action_id"], "start_date": "2026-01-05", "end_date": "2026-02-05", "places": 3}, org_a, 403),
        ("PATCH", f"/sessions/{own['id']}", {"places": 20}, org_a, 403),
        ("GET", f"/sessions/{own['id']}", None, org_a, 200),
        ("GET", f"/sessions/{foreign['id']}", None, org_a, 404),
        ("GET", f"/sessions/{own['id']}", None, prescriber, 200),
        ("GET", f"/sessions/{own['id']}", None, agency, 403),
        ("GET", f"/actions/{foreign['action_id']}", None, org_a, 404),
        ("POST", "/dossiers", {"session_id": foreign["id"], "profile": api.profile_body(), "identity": api.identity_body()}, org_a, 409),
        ("POST", "/dossiers", {"session_id": own["id"], "profile": api.profile_body(), "identity": api.identity_body()}, prescriber, 403),
        ("GET", f"/dossiers/{did}", None, nobody, 401),
        ("GET", f"/dossiers/{did}", None, region, 200),
        ("GET", f"/dossiers/{did}", None, org_a, 200),
        ("GET", f"/dossiers/{did}", None, org_b, 404),
        ("GET", f"/dossiers/{did}", None, prescriber, 404),  # not its prescription
        ("GET", f"/dossiers/{did}", None, agency, 404),
        ("POST", f"/dossiers/{did}/entry", {"entry_date": "2026-01-05"}, org_b, 404),
        ("POST", f"/dossiers/{did}/cancel", {"reason": "x"}, prescriber, 403),  # prescribers never declare
        ("PUT", f"/dossiers/{did}/attendance/2026-01", ATTENDANCE, org_b, 404),
        ("GET", f"/dossiers/{did}/attendance", None, org_b, 404),
        ("GET", "/dossiers", None, agency, 403),
        ("POST", f"/dossiers/{did}/entry", {"entry_date": "2026-01-05"}, region, 200),  # the Region acts on any file
    ]
    for method, url, body, caller, expected in matrix:
        response = await api.client.request(method, url, headers=caller, json=body)
        assert response.status_code == expected, (method, url, caller and caller["Authorization"][-12:], response.text)
        if expected >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
        if expected == 401:
            assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")

    # Lists are cut to what each caller may see.
    assert [s["id"] for s in (await api.ok("GET", "/sessions", org_a))["items"]] == [own["id"]]
    assert len((await api.ok("GET", "/sessions", region))["items"]) == 2
    assert len((await api.ok("GET", "/sessions", prescriber))["items"]) == 2
    assert [d["id"] for d in (await api.ok("GET", "/dossiers", org_a))["items"]] == [did]
    assert (await api.ok("GET", "/dossiers", org_b))["items"] == []
    assert (await api.ok("GET", "/dossiers", prescriber))["items"] == []
    # Nothing the refused calls attempted happened.
    assert [p["code"] for p in await api.ok("GET", "/programmes", region)] == ["VISA-METIERS"]
    assert (await api.ok("GET", f"/sessions/{own['id']}", region))["places"] == 12
