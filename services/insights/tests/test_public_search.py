"""The public search over HTTP, without a token, on a real Carif-Oref LHEO export (sessions'
tests/data/lheo/real/, origin in its README) and a Pays de la Loire action made through the API:
keywords with French stemming, codes, place and radius, dates, places, ANOTEA marks and results
withheld below the minimum base, ETag, cursor, rate limit, the portals' OpenAPI document.

Everything goes through the real interfaces: the offer, the files, their outcomes and the reviews
are written to sessions over its API; insights hears them on the bus (docs/insights.md) and
answers the search. One sessions and one insights, each on its database, for the module (each
test only reads, or reads what it adds itself, waiting until insights has heard it).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
import pytest_asyncio
from insights.domain.public_search import MARKS, mean_marks
from insights.main import create_app
from insights.settings import InsightsSettings
from lxml import etree
from pacte_common.bus import BusSettings
from pacte_testing import FixedClock, eventually, fresh_database, project_root, running
from sessions.main import create_app as create_sessions
from sessions.settings import SessionsSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

DATA = project_root() / "services" / "sessions" / "tests" / "data" / "lheo"
ETOILE = (DATA / "real" / "etoile-centre-plaquiste.lheo-2.2.xml").read_bytes()
NS = {"l": "http://www.lheo.org/2.2"}
XML = {"Content-Type": "application/xml"}
TODAY = date(2017, 11, 6)  # the real export's sessions run from 2017-10-30 and 2017-12-04 to 2018-06-01
MIN_BASE = 3
PDL_SIRET = "12345678900015"


def from_file(path: str) -> list[str]:
    return [t.strip() for t in etree.fromstring(ETOILE).xpath(path, namespaces=NS)]


REAL_SESSIONS = sorted(from_file("//l:session/@numero"))
ROME = from_file("//l:formation/l:domaine-formation/l:code-ROME/text()")[0]
NSF = from_file("//l:formation/l:domaine-formation/l:code-NSF/text()")[0]
FORMACODES = from_file("//l:formation/l:domaine-formation/l:code-FORMACODE/text()")
POSTCODE = from_file("//l:lieu-de-formation/l:coordonnees/l:adresse/l:codepostal/text()")[0]
CITY = from_file("//l:lieu-de-formation/l:coordonnees/l:adresse/l:ville/text()")[0]


def programme(code: str) -> dict:
    return {"code": code, "name": f"Programme {code}", "pillar": "visa", "funder": "region", "remuneration_approved": True,
            "tension_sector": False, "agora_category": "standard", "delegated_to_france_travail": False}


class World:
    """`client`: insights, which answers the search; `upstream`: sessions, where the offer, the
    files, their outcomes and the reviews are written (`write`)."""

    def __init__(self, client, upstream, settings, upstream_settings, clock):
        self.client, self.upstream, self.settings, self.clock = client, upstream, settings, clock
        from pacte_testing import auth_header

        self.region = auth_header(upstream_settings, "region", "region")
        self.org = auth_header(upstream_settings, "training_org", PDL_SIRET)

    @staticmethod
    async def _call(client, method: str, url: str, headers: dict | None, expected: int, **kwargs):
        response = await client.request(method, url, headers=headers or {}, **kwargs)
        assert response.status_code == expected, f"{method} {url}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def ok(self, method: str, url: str, headers: dict | None = None, expected: int = 200, **kwargs):
        """A call to insights."""
        return await self._call(self.client, method, url, headers, expected, **kwargs)

    async def write(self, method: str, url: str, headers: dict | None = None, expected: int = 200, **kwargs):
        """A call to sessions."""
        return await self._call(self.upstream, method, url, headers, expected, **kwargs)

    async def heard(self, check, message: str, **params) -> list[dict]:
        """The search (every page) once insights has heard what `check(results)` waits for (the read
        side is eventually consistent: a deadline, no sleep)."""
        async def read():
            found = await self.search(**params)
            return (found,) if check(found) else None  # a tuple: an empty search may be what is awaited

        return (await eventually(read, 30, interval=0.1, message=message))[0]

    async def search(self, **params) -> list[dict]:
        """Every page of a search (a small limit: the cursor is walked)."""
        found, cursor = [], None
        while True:
            page = await self.ok("GET", "/public/sessions", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
            found += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return found


async def trainee(world: World, session_id: str, n: int) -> str:
    body = {"session_id": session_id, "identity": {"birth_name": f"Nom{n}", "first_names": "Camille"},
            "profile": {"sex": "F", "birth_date": "1990-04-12", "education_level": "v", "jobseeker_category": "A",
                        "jobseeker_registration_date": "2015-09-01", "disabled_worker": False, "qpv": False}}
    dossier = await world.write("POST", "/dossiers", world.org, 201, json=body)
    await world.write("POST", f"/dossiers/{dossier['id']}/entry", world.org, json={"entry_date": "2016-01-04"})
    return dossier["id"]


async def build(world: World) -> dict:
    for code in ("VISA-METIERS", "PREPA-CLES"):
        await world.write("POST", "/programmes", world.region, 201, json=programme(code))
    for code, target in (("2", "VISA-METIERS"), ("10", "PREPA-CLES")):
        await world.write("PUT", f"/catalogue/lheo/mappings/financeur/{code}", world.region, json={"programme_code": target})
    report = await world.write("POST", "/catalogue/lheo", {**world.region, **XML}, content=ETOILE)
    real = {i["lheo_id"]: i["id"] for i in report["items"] if i["kind"] in ("action", "session")}
    action = await world.write("POST", "/actions", world.region, 201, json={
        "programme_code": "VISA-METIERS", "organisation_siret": PDL_SIRET, "title": "Agent de propreté et d'hygiène",
        "formacode": "42811", "certifying": True, "hours_in_centre": "400", "hours_in_company": "140", "weekly_hours": "35",
        "hourly_price": "12.50", "departement": "44"})
    session = lambda start, end, **more: {"action_id": action["id"], "start_date": start, "end_date": end, "places": 12, **more}  # noqa: E731
    past = await world.write("POST", "/sessions", world.region, 201, json=session("2016-01-04", "2016-06-24"))
    upcoming = await world.write("POST", "/sessions", world.region, 201,
                              json=session("2018-01-08", "2018-06-29", information_meetings=["2017-10-02", "2017-11-20", "2017-12-11"]))
    return {"real": real, "pdl_action": action["id"], "past": past["id"], "upcoming": upcoming["id"]}


async def results(world: World, ids: dict) -> None:
    """Four trainees exited from the past session; three answer at 6 months, two in a job."""
    world.clock.today = date(2016, 1, 4)
    files = [await trainee(world, ids["past"], n) for n in range(4)]
    world.clock.today = date(2016, 6, 24)
    for file in files:
        await world.write("POST", f"/dossiers/{file}/exit", world.org, json={"exit_date": "2016-06-24", "kind": "completed"})
    world.clock.today = TODAY
    situations = ["permanent_job", "short_fixed_term_or_temporary", "job_seeking"]
    lines = [{"dossier_id": f, "horizon_months": 6, "situation": s, "observed_on": "2016-12-26"} for f, s in zip(files, situations, strict=False)]
    await world.write("POST", "/outcomes/imports", world.region, 201, json={"lines": lines})
    ids["files"] = files


def review(n: int, action: str, session: str, mark: int) -> dict:
    notes = {"global": mark, "accueil": mark, "contenu_formation": mark, "equipe_formateurs": mark, "moyen_materiel": mark,
             "accompagnement": 5}
    return {"id": f"avis-{n}", "date": f"2017-06-{10 + n}", "notes": notes,
            "commentaire": {"titre": f"Avis {n}", "texte": f"Formation  utile,\n formateurs présents ({n})"},
            "formation": {"action": {"numero": action, "session": {"numero": session}, "organisme_formateur": {"siret": "82422814200660"}}}}


def settled(world) -> None:
    """What the tests read has reached insights: every open session, the reviews of both real
    actions (the organisation's figure withheld once the second's arrive), the results."""
    by_id = {i["session_id"]: i for i in world.found}
    first, upcoming = by_id.get(world.ids["real"]["114782"]), by_id.get(world.ids["upcoming"])
    return (len(world.found) == 3 and first is not None and upcoming is not None
            and first["reviews"]["training"]["reviews"] == 3 and first["reviews"]["organisation"]["below_min_base"]
            and upcoming["employment_6_months"]["population"] == 4)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(kafka_bootstrap, tmp_path_factory):
    bus = BusSettings(bootstrap_servers=kafka_bootstrap, topic_namespace=f"t{uuid.uuid4().hex[:10]}.", topic_partitions=2)
    folder = tmp_path_factory.mktemp("public")
    sessions_migrations = project_root() / "services" / "sessions" / "migrations"
    insights_migrations = project_root() / "services" / "insights" / "migrations"
    async with fresh_database(folder, "sessions", sessions_migrations) as upstream_url, \
            fresh_database(folder, "insights", insights_migrations) as url:
        upstream_settings = SessionsSettings(database_url=upstream_url, bus=bus, consume_prescriptions=False,
                                             departements=frozenset({"37", "44", "49", "53", "72", "85"}))
        settings = InsightsSettings(database_url=url, bus=bus, public_min_base=MIN_BASE,
                                    rate_limits={"reports": "60/minute", "public": "10000/minute", "signing": "1200/minute"})
        clock = FixedClock(TODAY)
        async with running(create_sessions(upstream_settings, clock=clock)) as upstream, \
                running(create_app(settings, clock=clock)) as client:
            world = World(client, upstream, settings, upstream_settings, clock)
            world.ids = await build(world)
            await results(world, world.ids)
            # Three reviews of the first real action (shown), two of the second (fewer than the base).
            first, second = sorted(k for k in world.ids["real"] if k.startswith("07_"))
            sessions = {a: s for a, s in (("07_114782", "114782"), ("07_123324", "123324"))}
            avis = [review(n, first, sessions[first], 4) for n in range(2)] + [review(2, first, sessions[first], 5)]
            avis += [review(n, second, sessions[second], 2) for n in range(3, 5)]
            answer = await world.write("POST", "/satisfaction/imports", world.region, json=avis)
            assert not answer["unknown"] and not answer["rejected"], answer

            def heard(found):
                world.found = found
                return settled(world)

            await world.heard(heard, "insights hears the offer, the files' results and the reviews")
            yield world


def session_ids(items: list[dict]) -> list[str]:
    return [i["session_id"] for i in items]


def real_ids(world, *numeros: str) -> list[str]:
    return sorted(world.ids["real"][n] for n in numeros)


async def test_keywords_find_with_french_stemming_and_nothing_else(world):
    plaquiste = await world.search(q="plaquistes")  # the title says "plaquiste"
    assert sorted(session_ids(plaquiste)) == real_ids(world, *REAL_SESSIONS)
    qualification = await world.search(q="qualifications")  # in the objectives only
    assert sorted(session_ids(qualification)) == real_ids(world, *REAL_SESSIONS)
    assert session_ids(await world.search(q="Propreté hygiène")) == [world.ids["upcoming"]]
    assert await world.search(q="boulangerie") == []
    everything = await world.search()
    assert sorted(session_ids(everything)) == sorted(real_ids(world, *REAL_SESSIONS) + [world.ids["upcoming"]])
    assert [i["start_date"] for i in everything] == sorted(i["start_date"] for i in everything)


async def test_codes_of_the_formation_find_its_sessions_and_a_malformed_code_is_named(world):
    real = real_ids(world, *REAL_SESSIONS)
    for params in ({"rome": ROME}, {"nsf": NSF}, *({"formacode": code} for code in FORMACODES)):
        assert sorted(session_ids(await world.search(**params))) == real, params
    assert session_ids(await world.search(formacode=["42811", "00000"])) == [world.ids["upcoming"]]
    assert await world.search(rome=ROME, formacode="42811") == []
    for name, value in (("rome", "Z1234"), ("formacode", "2240"), ("nsf", "23"), ("formacode", "abcde")):
        response = await world.client.get("/public/sessions", params={name: value})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"].removesuffix(".0") for e in response.json()["errors"]] == [f"query.{name}"]


async def test_a_place_and_a_radius_use_the_feed_geolocation_and_an_absurd_radius_is_named(world):
    real = real_ids(world, *REAL_SESSIONS)
    for near in (POSTCODE, CITY, CITY.upper(), from_file("//l:lieu-de-formation//l:code-INSEE-commune/text()")[0]):
        found = await world.search(near=near, radius_km=5)
        assert sorted(session_ids(found)) == real, near
        # the commune's point: the mean of the offer's training places there (4.4 km apart)
        assert all(0 < i["distance_km"] < 3 for i in found), near
    tours = "47.3941,0.6848"  # Tours, about 13 km north of Veigné
    found = await world.search(near=tours, radius_km=20)
    assert sorted(session_ids(found)) == real and all(9 < i["distance_km"] < 15 for i in found)
    assert await world.search(near=tours, radius_km=8) == []
    places = {(float(a), float(b)) for a, b in zip(from_file("//l:lieu-de-formation//l:latitude/text()"),
                                                   from_file("//l:lieu-de-formation//l:longitude/text()"), strict=True)}
    assert {(i["place"]["latitude"], i["place"]["longitude"]) for i in found} == places
    assert {(i["place"]["postcode"], i["place"]["city"]) for i in found} == {(POSTCODE, CITY)}
    for params, field in (({"near": POSTCODE, "radius_km": 500}, "query.radius_km"), ({"near": POSTCODE, "radius_km": 0}, "query.radius_km"),
                          ({"near": POSTCODE, "radius_km": "far"}, "query.radius_km"), ({"radius_km": 10}, "query.near"),
                          ({"near": "99999"}, "query.near"), ({"near": "Atlantis"}, "query.near"), ({"near": "95,200"}, "query.near")):
        response = await world.client.get("/public/sessions", params=params)
        assert response.status_code == 422, (params, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], params


async def test_dates_distance_learning_and_places_left(world):
    later = await world.search(start_from="2017-11-01")
    starts = {world.ids["real"]["114782"], world.ids["upcoming"]}
    assert set(session_ids(later)) == starts
    assert set(session_ids(await world.search(start_from="2017-11-01", start_to="2017-12-31"))) == {world.ids["real"]["114782"]}
    assert (await world.client.get("/public/sessions", params={"start_from": "2018-01-01", "start_to": "2017-01-01"})).json()["errors"][0]["field"] == "query.start_to"
    assert await world.search(distance_learning=True) == []
    assert len(await world.search(distance_learning=False)) == 3
    with_places = await world.search(places_left=True)
    assert len(with_places) == 3 and all(i["places_left"] > 0 for i in with_places)
    assert await world.search(places_left=False) == []


async def test_marks_and_results_are_shown_from_the_minimum_base_only(world):
    by_id = {i["session_id"]: i for i in await world.search()}
    first = by_id[world.ids["real"]["114782"]]["reviews"]
    assert first["training"] == {"reviews": 3, "below_min_base": False, "overall": "4.33", "accueil": "4.33", "contenu": "4.33",
                                 "equipe_formateurs": "4.33", "moyens_materiels": "4.33", "accompagnement": "5.00"}
    second = by_id[world.ids["real"]["123324"]]["reviews"]
    assert second["training"] == {"reviews": None, "below_min_base": True, "overall": None, "accueil": None, "contenu": None,
                                  "equipe_formateurs": None, "moyens_materiels": None, "accompagnement": None}
    # Both actions are the same organisation's: five reviews, but two are the second's, below the
    # base: shown, 5 × the organisation's mean − 3 × the first's would give theirs. Withheld too.
    assert first["organisation"] == second["organisation"] == {**second["training"], "below_min_base": True}
    pdl = by_id[world.ids["upcoming"]]
    assert pdl["reviews"]["training"]["reviews"] is None and not pdl["reviews"]["training"]["below_min_base"]
    assert pdl["employment_6_months"] == {"horizon_months": 6, "population": 4, "respondents": 3, "response_rate": "0.7500",
                                          "employment_rate": "0.6667", "below_min_base": False}
    assert pdl["next_information_meeting"] == "2017-11-20"
    assert by_id[world.ids["real"]["114782"]]["employment_6_months"]["population"] is None

    # The same organisation with a base of 2: the withheld part is none, every group is shown.
    sums = {name: 17 for name in MARKS}
    assert mean_marks(5, sums, 2, withheld_part=0).means["overall"] == Decimal("3.40")
    assert mean_marks(5, sums, 3, withheld_part=2).reviews is None


async def test_the_training_page_shows_sessions_organisation_marks_and_results(world):
    action = world.ids["real"]["07_114782"]
    training = await world.ok("GET", f"/public/trainings/{action}")
    assert training["title"] == from_file("//l:intitule-formation/text()")[0]
    assert training["organisation"] == {"siret": from_file("//l:organisme-formateur//l:SIRET/text()")[0],
                                        "name": from_file("//l:organisme-formateur/l:raison-sociale-formateur/text()")[0]}
    assert [s["session_id"] for s in training["sessions"]] == [world.ids["real"]["114782"]]
    assert training["codes"]["rome"] == [ROME] and training["codes"]["nsf"] == [NSF]
    assert sorted(training["codes"]["formacode"]) == sorted(FORMACODES)
    assert training["reviews"]["training"]["reviews"] == 3
    assert training["comments"] == [f"Avis {n} — Formation utile, formateurs présents ({n})" for n in (2, 1, 0)]  # newest first
    fewer = await world.ok("GET", f"/public/trainings/{world.ids['real']['07_123324']}")
    assert fewer["reviews"]["training"]["below_min_base"] and fewer["comments"] == []  # two reviews: below the base
    assert training["objectives"].startswith("L'objectif est d'obtenir la qualification de plaquiste")
    pdl = await world.ok("GET", f"/public/trainings/{world.ids['pdl_action']}")
    assert [s["session_id"] for s in pdl["sessions"]] == [world.ids["upcoming"]]  # the past one is over
    assert pdl["employment_6_months"]["employment_rate"] == "0.6667"
    missing = await world.client.get(f"/public/trainings/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert (await world.client.get("/public/trainings/not-an-id")).status_code == 422


async def test_no_personal_data_and_no_token_needed(world):
    for url in ("/public/sessions", f"/public/trainings/{world.ids['pdl_action']}"):
        response = await world.client.get(url)
        assert response.status_code == 200
        for secret in [*world.ids["files"], "Nom0", "Camille", "1990-04-12"]:
            assert secret not in response.text, (url, secret)


async def test_etag_answers_304_and_the_cursor_walks_every_session_once(world):
    first = await world.client.get("/public/sessions", params={"limit": 1})
    assert first.headers["cache-control"] == f"public, max-age={world.settings.public_cache_max_age_s}"
    again = await world.client.get("/public/sessions", params={"limit": 1}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    training = await world.client.get(f"/public/trainings/{world.ids['pdl_action']}")
    assert (await world.client.get(f"/public/trainings/{world.ids['pdl_action']}",
                                   headers={"If-None-Match": training.headers["etag"]})).status_code == 304
    walked = await world.search()
    assert len(walked) == len(set(session_ids(walked))) == 3
    bad = await world.client.get("/public/sessions", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"


async def test_the_portals_document_has_the_public_routes_only(world):
    document = await world.ok("GET", "/public/openapi.json")
    assert set(document["paths"]) == {"/public/sessions", "/public/trainings/{training_id}"}
    assert "PublicSession" in document["components"]["schemas"] and "SessionOut" not in document["components"]["schemas"]
    assert all("security" not in op for item in document["paths"].values() for op in item.values())
    full = await world.ok("GET", "/openapi.json")
    assert full["paths"]["/public/sessions"]["get"]["tags"] == ["public"]
    docs = await world.client.get("/public/docs")
    assert docs.status_code == 200 and "/public/openapi.json" in docs.text and "/docs-assets/" in docs.text


async def test_each_client_has_its_budget(world):
    # a second insights on the same database, serving HTTP only (its consumers would join the first's groups)
    settings = world.settings.model_copy(update={"rate_limits": {"reports": "60/minute", "public": "2/minute", "signing": "1200/minute"},
                                                 "consume": False})
    async with running(create_app(settings, clock=world.clock)) as client:
        statuses = [(await client.get("/public/sessions")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = await client.get("/public/sessions")
        assert int(refused.headers["retry-after"]) >= 1


async def test_an_action_changed_through_the_api_is_searched_as_it_now_is(world):
    action = world.ids["pdl_action"]
    assert await world.search(q="maçonnerie") == []
    await world.write("PATCH", f"/actions/{action}", world.region, json={"title": "Maçonnerie et propreté", "distance_learning": True})
    found = await world.heard(lambda found: bool(found), "insights hears the action changed", q="maçonneries")
    assert session_ids(found) == [world.ids["upcoming"]]
    assert session_ids(await world.search(distance_learning=True)) == [world.ids["upcoming"]]
    await world.write("PATCH", f"/actions/{action}", world.region, json={"title": "Agent de propreté et d'hygiène", "distance_learning": False})
    await world.heard(lambda found: found == [], "insights hears the action changed back", q="maçonnerie")
    assert await world.search(distance_learning=True) == []


async def test_an_older_publishers_snapshot_leaves_the_offer_details_held(world):
    """A snapshot without `offer` and `distance_learning` (published before they existed, and
    replayed by a rebuild) changes what it carries and leaves the search's details as held."""
    from pacte_common.contracts.sessions import SessionSnapshot, SessionUpdated
    from pacte_testing.agora import publish

    session_id = world.ids["real"]["114782"]
    held = await world.ok("GET", f"/public/trainings/{world.ids['real']['07_114782']}")
    body = await world.write("GET", f"/sessions/{session_id}", world.region)
    older = SessionSnapshot.model_validate({**{name: body[name] for name in SessionSnapshot.model_fields if name in body},
                                            "offer": None, "distance_learning": None, "places": 40})
    await publish(world.settings.bus, [SessionUpdated(session=older)])
    found = await world.heard(lambda found: [i["places_left"] for i in found] == [40 - body["places_taken"]],
                              "insights applies the older publisher's snapshot", near=POSTCODE, radius_km=5, start_from="2017-11-01")
    assert session_ids(found) == [session_id]  # still found around its training place
    training = await world.ok("GET", f"/public/trainings/{world.ids['real']['07_114782']}")
    assert {k: training[k] for k in ("objectives", "content", "codes", "place", "organisation", "distance_learning")} == \
        {k: held[k] for k in ("objectives", "content", "codes", "place", "organisation", "distance_learning")}
