"""The trainee's signing page: plain HTML for a phone, in French, no JavaScript, accessible.

`GET /emargement/{token}` (the personal link) shows the half-day and a consent box;
`POST` signs. The page leaves two cookies on the phone: a device id (fraud flags) and the
trainee's pass, with which `GET /emargement/qr/{code}` (the room's QR code) signs too."""

from __future__ import annotations

import html
import secrets
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse
from pacte_common.errors import ProblemError
from pacte_common.fair_share import RateLimited
from pacte_common.service import DbSession

from attendance.api.deps import Now, Settings, evidence_of
from attendance.api.schemas import CONSENT
from attendance.app import pages as use_cases
from attendance.domain.sheet import PERIOD_LABELS

router = APIRouter(tags=["pages"], include_in_schema=False)
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre")
STYLE = """
*{box-sizing:border-box}body{margin:0;font:1.05rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#f5f5f2}
main{max-width:34rem;margin:0 auto;padding:1.25rem}h1{font-size:1.4rem;margin:.5rem 0 1rem}
.card{background:#fff;border:1px solid #c8c8c0;border-radius:.5rem;padding:1rem;margin-bottom:1rem}
dl{margin:0}dt{font-weight:600}dd{margin:0 0 .5rem}
.consent{display:flex;gap:.75rem;align-items:flex-start;margin:1rem 0}.consent input{width:1.5rem;height:1.5rem;flex:none}
button{width:100%;font:inherit;font-weight:600;padding:.9rem;border:0;border-radius:.5rem;background:#00558c;color:#fff}
button:focus-visible,input:focus-visible{outline:3px solid #e0a000;outline-offset:2px}
.ok{border-color:#1d6b2f;background:#eef7ef}.error{border-color:#a4001d;background:#fcebec}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — Émargement</title><style>{STYLE}</style></head>
<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>""", status_code=status)


def _when(view: use_cases.HalfDayView, timezone: str) -> str:
    day = view.day
    return f"{DAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}, {PERIOD_LABELS[view.period]} ({view.starts_at:%H:%M}–{view.ends_at:%H:%M})"


def _details(view: use_cases.HalfDayView, timezone: str) -> str:
    place = "à distance" if view.distance else (view.place or "—")
    return (f'<div class="card"><dl><dt>Stagiaire</dt><dd>{html.escape(view.trainee)}</dd>'
            f"<dt>Formation</dt><dd>{html.escape(view.title)}</dd><dt>Demi-journée</dt><dd>{html.escape(_when(view, timezone))}</dd>"
            f"<dt>Lieu</dt><dd>{html.escape(place)}</dd><dt>Formateur</dt><dd>{html.escape(view.trainer or '—')}</dd></dl></div>")


def _form(action: str) -> str:
    return (f'<form method="post" action="{html.escape(action)}"><div class="consent">'
            f'<input type="checkbox" id="consent" name="consent" value="oui" required>'
            f'<label for="consent">{html.escape(CONSENT)}</label></div><button type="submit">Je signe</button></form>')


def _signed(signed_at: datetime, timezone: str, again: bool) -> str:
    local = signed_at.astimezone(ZoneInfo(timezone))
    text = "Vous aviez déjà signé cette demi-journée" if again else "Votre signature est enregistrée"
    return f'<div class="card ok" role="status"><p><strong>{text}</strong> à {local:%H:%M} (heure du serveur), le {local:%d/%m/%Y}.</p></div>'


def _problem(error: ProblemError, settings: Settings) -> HTMLResponse:
    messages = {403: "Ce lien ne correspond pas à cette demi-journée ou à ce stagiaire.",
                404: "Cette demi-journée est introuvable.",
                409: "La signature n'est pas possible maintenant : on signe pendant la demi-journée "
                     f"(à partir de {settings.sign_opens_before_min} minutes avant le début).",
                410: "Ce lien ou ce code a expiré."}
    text = messages.get(error.status, "La signature n'a pas pu être enregistrée.")
    renew = error.extensions.get("how_to_renew")
    extra = f"<p>{html.escape(renew)}</p>" if renew else ""
    return _page("Signature impossible", f'<div class="card error" role="alert"><p><strong>{text}</strong></p>{extra}</div>', error.status)


def _remember(response: HTMLResponse, settings: Settings, now: datetime, device: str | None,
              trainee_pass: tuple[str, datetime] | None = None) -> HTMLResponse:
    """HttpOnly, SameSite=Lax cookies, HTTPS only unless settings.cookie_secure is off (development)."""
    secure = bool(settings.cookie_secure)
    if device:
        response.set_cookie("pacte_device", device, max_age=settings.device_cookie_days * 86400, httponly=True, samesite="lax",
                            secure=secure)
    if trainee_pass:
        token, until = trainee_pass
        response.set_cookie("pacte_pass", token, max_age=max(0, int((until - now).total_seconds())), httponly=True, samesite="lax",
                            secure=secure)
    return response


@router.get("/emargement/{token}", response_class=HTMLResponse, dependencies=[RateLimited("signing")])
async def link_page(token: str, db: DbSession, settings: Settings, now: Now, request: Request,
                    pacte_device: Annotated[str | None, Cookie()] = None):
    try:
        view = await use_cases.link_view(db, request.app.state.runtime.cipher, settings, token, now)
    except ProblemError as error:
        return _problem(error, settings)
    body = _details(view, settings.timezone)
    body += _signed(view.signed_at, settings.timezone, True) if view.signed_at else _form(f"/emargement/{token}")
    return _remember(_page("Émargement", body), settings, now, pacte_device or secrets.token_urlsafe(16))


@router.post("/emargement/{token}", response_class=HTMLResponse, dependencies=[RateLimited("signing")])
async def link_sign(token: str, db: DbSession, settings: Settings, now: Now, request: Request,
                    consent: Annotated[str | None, Form()] = None, pacte_device: Annotated[str | None, Cookie()] = None):
    if consent != "oui":
        return _page("Émargement", '<div class="card error" role="alert"><p>Cochez la case pour confirmer votre présence.</p></div>'
                     + _form(f"/emargement/{token}"), 422)
    device = pacte_device or secrets.token_urlsafe(16)
    try:
        view, signature, created, trainee_pass = await use_cases.sign_link(db, request.app.state.runtime.cipher, settings, token,
                                                                           CONSENT, evidence_of(request, device), now)
    except ProblemError as error:
        return _problem(error, settings)
    return _remember(_page("Émargement", _details(view, settings.timezone) + _signed(signature.signed_at, settings.timezone, not created)),
                     settings, now, device, trainee_pass)


@router.get("/emargement/qr/{code}", response_class=HTMLResponse, dependencies=[RateLimited("signing")])
async def qr_page(code: str, settings: Settings, pacte_pass: Annotated[str | None, Cookie()] = None):
    if not pacte_pass:
        return _page("Émargement", '<div class="card error" role="alert"><p>Ce téléphone ne vous connaît pas encore : ouvrez une '
                     "première fois le lien personnel envoyé par votre organisme, puis scannez à nouveau le code.</p></div>", 401)
    return _page("Émargement", _form(f"/emargement/qr/{code}"))


@router.post("/emargement/qr/{code}", response_class=HTMLResponse, dependencies=[RateLimited("signing")])
async def qr_sign(code: str, db: DbSession, settings: Settings, now: Now, request: Request,
                  consent: Annotated[str | None, Form()] = None, pacte_pass: Annotated[str | None, Cookie()] = None,
                  pacte_device: Annotated[str | None, Cookie()] = None):
    if consent != "oui" or not pacte_pass:
        return _page("Émargement", '<div class="card error" role="alert"><p>Cochez la case pour confirmer votre présence.</p></div>'
                     + _form(f"/emargement/qr/{code}"), 422)
    try:
        signature, created = await use_cases.sign_qr(db, settings, code, pacte_pass, CONSENT, evidence_of(request, pacte_device), now)
    except ProblemError as error:
        return _problem(error, settings)
    return _page("Émargement", _signed(signature.signed_at, settings.timezone, not created))


