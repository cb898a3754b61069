"""Imports (Region only): upload forms that forward a file to the sessions service's import
routes and show each import's report, and the AGORA back-fill started from an export, its
progress shown by a page that reloads itself (meta refresh) while a job runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from console.pages import CsrfChecked, SignedIn, backend_of, flash, render

router = APIRouter()
REFUSED = (400, 409, 413, 415, 422)  # the service's refusal is the report: shown, not an error page
RUNNING = ("receiving", "queued", "running")


@dataclass(frozen=True)
class Import:
    title: str
    method: str
    path: str
    accepts: str  # the file input's accept attribute

    def media_type(self, filename: str) -> str:
        if self.path == "/catalogue/lheo":
            return "application/xml"
        return "text/csv" if filename.lower().endswith(".csv") and self.path != "/territories" else "application/json"


IMPORTS = {
    "lheo": Import("LHEO offer (catalogue)", "POST", "/catalogue/lheo", ".xml"),
    "anotea": Import("ANOTEA reviews (satisfaction)", "POST", "/satisfaction/imports", ".json,.csv"),
    "outcomes": Import("Outcomes (what became of the trainees)", "POST", "/outcomes/imports", ".csv,.json"),
    "territories": Import("Territory table (a new version)", "PUT", "/territories", ".json"),
}


def _refused_to_region(request: Request, operator):
    return render(request, "error.html", status_code=403, title="Reserved to the Region",
                  message="Imports and back-fills are the Region's.")


async def _page(request: Request, operator, status_code: int = 200, **context):
    jobs = await backend_of(request).get_json("agora-gateway", "/backfill", token=operator.token)
    # WCAG 2.2.1: the operator can stop the page reloading itself (?refresh=off)
    running = any(j["status"] in RUNNING for j in jobs) and request.query_params.get("refresh") != "off"
    return render(request, "imports.html", status_code=status_code, operator=operator, imports=IMPORTS, jobs=jobs,
                  refresh=request.app.state.settings.backfill_refresh_s if running else None,
                  backfill_key=str(uuid.uuid4()), shown_job=request.query_params.get("job"), **context)


@router.get("/imports")
async def imports_page(request: Request, operator: SignedIn):
    if not operator.is_region:
        return _refused_to_region(request, operator)
    return await _page(request, operator)


async def _read(request: Request, file: UploadFile) -> bytes | None:
    limit = request.app.state.settings.import_max_bytes
    data = await file.read(limit + 1)
    return None if len(data) > limit or not data else data


def summary(kind: str, status: int, body: dict) -> dict:
    """The service's answer as counts, rejected items (what, why) and errors (field, message)."""
    counts, rejections = {}, []
    if kind == "lheo" and "counts" in body:
        counts = body["counts"]
        rejections = [(f"{i['kind']} {i.get('lheo_id') or ''}".strip(), i.get("reason") or i["status"])
                      for i in body.get("items", []) if i["status"] == "rejected"]
    elif kind == "anotea" and "received" in body:
        counts = {k: body[k] for k in ("received", "created", "updated", "unchanged")}
        counts |= {"unknown session": len(body["unknown"]), "rejected": len(body["rejected"])}
        rejections = [(f"{r['review_id']} (session {r.get('session') or '—'})", r["reason"]) for r in body["unknown"] + body["rejected"]]
    elif kind == "outcomes" and "counts" in body:
        counts = body["counts"]
        rejections = [(f"line {ln['line']}", ln.get("reason") or ln["status"]) for ln in body.get("lines", [])
                      if ln["status"] not in ("created", "updated", "unchanged")]
    elif kind == "territories" and "version" in body:
        counts = {"version": body["version"], "territories": len(body["territories"])}
    report = body.get("report") if isinstance(body.get("report"), dict) else None
    if report and not counts:  # a refused outcomes file carries the report of what it would have done
        return {**summary(kind, 200, report), "status": status, "title": body.get("title"),
                "errors": [(e.get("field", ""), e.get("message", "")) for e in body.get("errors", [])]}
    return {"status": status, "ok": status < 400, "counts": counts, "rejections": rejections, "title": body.get("title"),
            "detail": body.get("detail"), "errors": [(e.get("field", ""), e.get("message", "")) for e in body.get("errors", []) or []]}


@router.post("/imports/files/{kind}", dependencies=[CsrfChecked])
async def run_import(kind: str, request: Request, operator: SignedIn, file: Annotated[UploadFile, File()],
                     source: Annotated[str, Form()] = "survey", dry_run: Annotated[str, Form()] = ""):
    if not operator.is_region:
        return _refused_to_region(request, operator)
    spec = IMPORTS.get(kind)
    if spec is None:
        return render(request, "error.html", status_code=404, title="No such import", message=f"No import {kind!r}.")
    data = await _read(request, file)
    if data is None:
        return await _page(request, operator, status_code=422, error=f"file: empty, or larger than "
                                                                     f"{request.app.state.settings.import_max_bytes} bytes")
    params = {"source": source, "dry_run": "true" if dry_run else None} if kind == "outcomes" else None
    response = await backend_of(request).call("sessions", spec.method, spec.path, token=operator.token, params=params, content=data,
                                              headers={"Content-Type": spec.media_type(file.filename or "")}, accept_status=REFUSED)
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    report = {**summary(kind, response.status_code, body), "kind": kind, "title_of": spec.title, "filename": file.filename}
    return await _page(request, operator, status_code=200 if response.status_code < 400 else 422, report=report)


@router.post("/imports/backfill", dependencies=[CsrfChecked])
async def start_backfill(request: Request, operator: SignedIn, file: Annotated[UploadFile, File()],
                         idempotency_key: Annotated[str, Form()] = ""):
    """Starts an AGORA back-fill from an export (NDJSON); the same form sent twice starts one job."""
    if not operator.is_region:
        return _refused_to_region(request, operator)
    data = await _read(request, file)
    if data is None:
        return await _page(request, operator, status_code=422, error="file: empty, or larger than the console forwards")
    response = await backend_of(request).call(
        "agora-gateway", "POST", "/backfill", token=operator.token, accept_status=REFUSED,
        files={"file": (file.filename or "export.ndjson", data, "application/x-ndjson")},
        headers={"Idempotency-Key": idempotency_key} if idempotency_key else None)
    if response.status_code >= 400:
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        flash(request, "error", f"Back-fill refused: {body.get('title', response.status_code)} {body.get('detail') or ''}".strip())
        return RedirectResponse("/imports", status_code=303)
    job = response.json()
    flash(request, "ok", f"Back-fill of {job['filename']} started ({job['size_bytes']} bytes).")
    return RedirectResponse(f"/imports?job={job['job_id']}#backfill", status_code=303)
