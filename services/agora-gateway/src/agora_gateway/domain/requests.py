"""Building AGORA request bodies (contract v1) from what the gateway holds. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from pacte_common.contracts.people import PersonIdentity
from pacte_common.validators import nir_for_agora

from agora_gateway.domain.agora_file import Operation


class NotSendable(ValueError):
    """The gateway's own check failed (e.g. an invalid NIR): a local rejection with a code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def agora_nir(identity: PersonIdentity | None) -> str | None:
    """The NIR as AGORA takes it: first 13 characters, no key (docs/rules.md §6.4)."""
    if identity is None or not identity.nir:
        return None
    try:
        return nir_for_agora(identity.nir)
    except ValueError as exc:
        raise NotSendable("invalid_nir", f"The file's NIR is not valid: {exc}") from None


def file_data(snapshot: dict[str, Any], identity: PersonIdentity | None, trainee_status: str) -> dict[str, Any]:
    """The `create` data from a DossierSnapshot (JSON form) and the opened identity."""
    session = snapshot["session"]
    profile = snapshot["profile"]
    return {
        "funder_ref": str(snapshot["dossier_id"]),
        "identity": {
            "birth_name": identity.birth_name if identity else "",
            "first_names": identity.first_names if identity else "",
            "birth_date": profile["birth_date"],
            "sex": profile["sex"],
            "nir": agora_nir(identity),
            "status": trainee_status,
        },
        "organisation_siret": session["organisation_siret"],
        "programme_code": session["programme"]["code"],
        "action_title": session.get("action_title", ""),
        "session_start_date": session["start_date"],
        "session_end_date": session["end_date"],
        "hourly_price": session.get("hourly_price"),
    }


def operation_request(
    operation: Operation,
    *,
    snapshot: dict[str, Any],
    identity: PersonIdentity | None,
    flow_data: dict[str, Any],
    agora_file_id: str | None,
    trainee_status: str,
) -> dict[str, Any]:
    if operation is Operation.CREATE:
        return {"operation": "create", "agora_file_id": None, "data": file_data(snapshot, identity, trainee_status)}
    if operation is Operation.ADD_NIR:
        nir = agora_nir(identity)
        if nir is None:
            raise NotSendable("missing_nir", "The file has no NIR to add")
        return {"operation": "add_nir", "agora_file_id": agora_file_id, "data": {"nir": nir}}
    return {"operation": operation.value, "agora_file_id": agora_file_id, "data": flow_data}


def search_query(create_request: dict[str, Any]) -> dict[str, Any]:
    """The search for a pre-existing file that goes before a `create`."""
    data = create_request["data"]
    return {
        "funder_ref": data["funder_ref"],
        "nir": data["identity"]["nir"],
        "organisation_siret": data["organisation_siret"],
        "session_start_date": data["session_start_date"],
    }


def found_existing_answer(existing: dict[str, Any]) -> dict[str, Any]:
    """A pre-existing file found by the search, taken as the `create`'s acknowledgement."""
    return {
        "status": "acknowledged",
        "operation": "create",
        "agora_file_id": existing["agora_file_id"],
        "file_state": existing["state"],
        "found_existing": True,
    }
