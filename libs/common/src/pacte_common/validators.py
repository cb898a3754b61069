"""Validators for the identifiers partners send: NIR, SIRET, IBAN (docs/rules.md §1.2 and §7).

Each `validate_*` returns the normalised value or raises `ValueError` with a message that
names what is wrong; the `Annotated` types plug them into pydantic models.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

# ASCII digits only (re.ASCII): `\d` and int() also take full-width digits.
_NIR_RE = re.compile(r"^([1-478])(\d{2})(\d{2})(\d{2}|2A|2B)(\d{3})(\d{3})(\d{2})$", re.ASCII)
_IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$", re.ASCII)


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def nir_key(first_13: str) -> int:
    """Control key of a NIR: 97 − (first 13 digits mod 97), Corsica 2A→19, 2B→18."""
    numeric = first_13.replace("2A", "19").replace("2B", "18")
    return 97 - int(numeric) % 97


def validate_nir(value: str) -> str:
    nir = _compact(value)
    match = _NIR_RE.match(nir)
    if not match:
        raise ValueError(
            "NIR must be 15 characters: sex digit (1, 2, 3, 4, 7 or 8), birth year, month, "
            "département (digits, 2A or 2B), commune, order number and a 2-digit key"
        )
    month = int(match.group(3))
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        raise ValueError("NIR birth month must be 01-12, 20-42 or 50-99")
    if int(match.group(7)) != nir_key(nir[:13]):
        raise ValueError("NIR control key does not match")
    return nir


def nir_for_agora(nir: str) -> str:
    """AGORA takes the NIR as its first 13 characters, without the key (docs/rules.md §6.4)."""
    return validate_nir(nir)[:13]


def mask_nir(nir: str) -> str:
    return nir[:1] + "*" * 12 + nir[-2:] if nir else nir


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def validate_siret(value: str) -> str:
    siret = _compact(value)
    if not (len(siret) == 14 and siret.isascii() and siret.isdigit()):
        raise ValueError("SIRET must be 14 digits")
    # La Poste's establishments (SIREN 356000000) use a digit-sum rule instead of Luhn.
    if siret.startswith("356000000") and siret != "35600000000048":
        if sum(int(c) for c in siret) % 5 != 0:
            raise ValueError("SIRET check digit is wrong")
    elif not _luhn_ok(siret):
        raise ValueError("SIRET check digit (Luhn) is wrong")
    return siret


def validate_iban(value: str) -> str:
    iban = _compact(value)
    if not _IBAN_RE.match(iban):
        raise ValueError("IBAN must be a country code, 2 check digits and 11 to 30 letters or digits")
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    if int(number) % 97 != 1:
        raise ValueError("IBAN check digits are wrong (ISO 13616)")
    return iban


def mask_iban(iban: str) -> str:
    return iban[:4] + "*" * (len(iban) - 8) + iban[-4:] if iban else iban


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# Their JSON Schema: the written form and a named `format` (the check digit, which no pattern
# can say, is checked above; a wrong one is a 422 naming the field). docs/openapi.md.
NIR_SCHEMA = {"type": "string", "format": "nir", "pattern": "^[1-478][0-9]{2}(0[1-9]|1[0-2]|[23][0-9]|4[0-2]|[5-9][0-9])([0-9]{2}|2A|2B)[0-9]{8}$",
               "description": "NIR (15 characters, control key included)"}
SIRET_SCHEMA = {"type": "string", "format": "siret", "pattern": "^[0-9]{14}$", "description": "SIRET (14 digits, Luhn key)"}
IBAN_SCHEMA = {"type": "string", "format": "iban", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$",
                "description": "IBAN (ISO 13616 check digits)"}
Nir = Annotated[str, BeforeValidator(_strip), AfterValidator(validate_nir), WithJsonSchema(NIR_SCHEMA)]
Siret = Annotated[str, BeforeValidator(_strip), AfterValidator(validate_siret), WithJsonSchema(SIRET_SCHEMA)]
Iban = Annotated[str, BeforeValidator(_strip), AfterValidator(validate_iban), WithJsonSchema(IBAN_SCHEMA)]
