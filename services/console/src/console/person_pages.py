"""Find a person (the Region only): a last name (or its beginning) and a birth date → the persons
found by orientation's audited search (`POST /persons/search`), with their prescriptions and a link
to their skills passport. The criteria go in a POST body, never in a URL or a log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from console.pages import CsrfChecked, SignedIn, backend_of, render

router = APIRouter()


def _reserved(request: Request):
    return render(request, "error.html", status_code=403, title="Reserved to the Region",
                  message="Finding a person by name and birth date is reserved to the Region; each search is recorded.")


@router.get("/persons")
async def persons_page(request: Request, operator: SignedIn):
    if not operator.is_region:
        return _reserved(request)
    return render(request, "persons.html", operator=operator, criteria=None, found=None)


@router.post("/persons", dependencies=[CsrfChecked])
async def persons_search(request: Request, operator: SignedIn, last_name: Annotated[str, Form()] = "",
                         birth_date: Annotated[str, Form()] = ""):
    if not operator.is_region:
        return _reserved(request)
    criteria = {"last_name": last_name.strip(), "birth_date": birth_date.strip()}
    response = await backend_of(request).call("orientation", "POST", "/persons/search", token=operator.token, json=criteria,
                                              accept_status=(422,))
    if response.status_code == 422:
        errors = "; ".join(f"{e['field'].removeprefix('body.')}: {e['message']}" for e in response.json().get("errors", []))
        return render(request, "persons.html", status_code=422, operator=operator, criteria=criteria, found=None, error=errors)
    return render(request, "persons.html", operator=operator, criteria=criteria, found=response.json())
