"""The trainee's signing page (HTML, French, no JavaScript): added below."""

from fastapi import APIRouter

router = APIRouter(tags=["pages"])
