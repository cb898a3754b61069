"""The prescription state machine (docs/rules.md §3.1), as one declarative table.

Read `PRESCRIPTION` to know the whole flow: from which state, which action, by whom, to
which state. Everything else in the service (HTTP, consumers, the expiry job) moves a
prescription through it (`PRESCRIPTION.move` in app/). No I/O, no framework.
"""

from __future__ import annotations

from enum import StrEnum

from pacte_common.state_machine import StateMachine, Transition


class Status(StrEnum):
    SUBMITTED = "submitted"
    POSITIONING = "positioning"
    ADMITTED = "admitted"
    REFUSED = "refused"
    WAITLISTED = "waitlisted"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    ENTERED = "entered"
    ADMISSION_CANCELLED = "admission_cancelled"


STATUS_LABELS: dict[Status, str] = {
    Status.SUBMITTED: "Prescription envoyée",
    Status.POSITIONING: "Positionnement programmé",
    Status.ADMITTED: "Admis",
    Status.REFUSED: "Refusé",
    Status.WAITLISTED: "Sur liste d'attente",
    Status.WITHDRAWN: "Retirée par le prescripteur",
    Status.EXPIRED: "Expirée sans réponse",
    Status.ENTERED: "Entré en formation",
    Status.ADMISSION_CANCELLED: "Admission annulée",
}

# A person has at most one prescription in these states per session (docs/rules.md §3.4).
ACTIVE_STATUSES = frozenset(
    {Status.SUBMITTED, Status.POSITIONING, Status.ADMITTED, Status.WAITLISTED, Status.ENTERED}
)


class Action(StrEnum):
    SCHEDULE_POSITIONING = "positioning"
    ADMIT = "admit"
    REFUSE = "refuse"
    WAITLIST = "waitlist"
    WITHDRAW = "withdraw"
    REORIENT = "reorient"
    EXPIRE = "expire"
    ENTER = "enter"
    CANCEL_ADMISSION = "cancel_admission"


class Role(StrEnum):
    """Who may take an action: the two partners, or the system (job, sessions' events)."""

    PRESCRIBER = "prescriber"
    TRAINING_ORG = "training_org"
    SYSTEM = "system"


_S, _A = Status, Action
_ORG, _PRESCRIBER, _SYSTEM = frozenset({Role.TRAINING_ORG}), frozenset({Role.PRESCRIBER}), frozenset({Role.SYSTEM})

PRESCRIPTION: StateMachine[Status, Action] = StateMachine(
    "prescription",
    (
        # the training organisation positions and answers
        Transition(_S.SUBMITTED, _A.SCHEDULE_POSITIONING, _S.POSITIONING, _ORG),
        Transition(_S.POSITIONING, _A.SCHEDULE_POSITIONING, _S.POSITIONING, _ORG),  # rescheduled
        Transition(_S.SUBMITTED, _A.ADMIT, _S.ADMITTED, _ORG),
        Transition(_S.POSITIONING, _A.ADMIT, _S.ADMITTED, _ORG),
        Transition(_S.WAITLISTED, _A.ADMIT, _S.ADMITTED, _ORG),  # a place freed up
        Transition(_S.SUBMITTED, _A.REFUSE, _S.REFUSED, _ORG),
        Transition(_S.POSITIONING, _A.REFUSE, _S.REFUSED, _ORG),
        Transition(_S.WAITLISTED, _A.REFUSE, _S.REFUSED, _ORG),
        Transition(_S.SUBMITTED, _A.WAITLIST, _S.WAITLISTED, _ORG),
        Transition(_S.POSITIONING, _A.WAITLIST, _S.WAITLISTED, _ORG),
        # the prescriber withdraws (or the beneficiary declines) before any admission
        Transition(_S.SUBMITTED, _A.WITHDRAW, _S.WITHDRAWN, _PRESCRIBER),
        Transition(_S.POSITIONING, _A.WITHDRAW, _S.WITHDRAWN, _PRESCRIBER),
        Transition(_S.WAITLISTED, _A.WITHDRAW, _S.WITHDRAWN, _PRESCRIBER),
        # bounce back: the closed prescription keeps its state and links to the new one
        Transition(_S.REFUSED, _A.REORIENT, _S.REFUSED, _PRESCRIBER),
        Transition(_S.EXPIRED, _A.REORIENT, _S.EXPIRED, _PRESCRIBER),
        Transition(_S.WITHDRAWN, _A.REORIENT, _S.WITHDRAWN, _PRESCRIBER),
        # no answer from the organisation within the delay (a setting)
        Transition(_S.SUBMITTED, _A.EXPIRE, _S.EXPIRED, _SYSTEM),
        Transition(_S.POSITIONING, _A.EXPIRE, _S.EXPIRED, _SYSTEM),
        # the sessions service reports what became of the admission
        Transition(_S.ADMITTED, _A.ENTER, _S.ENTERED, _SYSTEM),
        Transition(_S.ADMITTED, _A.CANCEL_ADMISSION, _S.ADMISSION_CANCELLED, _SYSTEM),
        Transition(_S.ENTERED, _A.CANCEL_ADMISSION, _S.ADMISSION_CANCELLED, _SYSTEM),  # entry declared by mistake
    ),
)

# Statuses from which the expiry job may expire a prescription.
EXPIRABLE_STATUSES = PRESCRIPTION.sources_of(Action.EXPIRE)

# The log's name for the creation (a first submission or a reorientation's new prescription).
SUBMIT = "submit"


def role_of(action: Action) -> Role:
    """Each action belongs to one party: the training organisation, the prescriber or the system."""
    (role,) = PRESCRIPTION.roles_of(action)
    return Role(role)


def is_active(status: Status) -> bool:
    return status in ACTIVE_STATUSES


# ---------------------------------------------------------------- answers' vocabulary


class RefusalReason(StrEnum):
    PREREQUISITES_NOT_MET = "prerequisites_not_met"
    SESSION_FULL = "session_full"
    NO_SHOW_INFORMATION_MEETING = "no_show_information_meeting"
    NO_SHOW_INTERVIEW = "no_show_interview"
    PROJECT_NOT_VALIDATED = "project_not_validated"
    NOT_ELIGIBLE = "not_eligible"
    NOT_MOBILE = "not_mobile"
    DECLINED_BY_BENEFICIARY = "declined_by_beneficiary"
    EMPLOYMENT_FOUND = "employment_found"
    OTHER_TRAINING = "other_training"
    PERSONAL_CONSTRAINTS = "personal_constraints"
    DUPLICATE = "duplicate"
    OTHER = "other"


REFUSAL_LABELS: dict[RefusalReason, str] = {
    RefusalReason.PREREQUISITES_NOT_MET: "Prérequis non atteints",
    RefusalReason.SESSION_FULL: "Session complète",
    RefusalReason.NO_SHOW_INFORMATION_MEETING: "Absent à l'information collective",
    RefusalReason.NO_SHOW_INTERVIEW: "Absent à l'entretien",
    RefusalReason.PROJECT_NOT_VALIDATED: "Projet professionnel non validé",
    RefusalReason.NOT_ELIGIBLE: "Non éligible",
    RefusalReason.NOT_MOBILE: "Problème de mobilité",
    RefusalReason.DECLINED_BY_BENEFICIARY: "Refus du bénéficiaire",
    RefusalReason.EMPLOYMENT_FOUND: "Reprise d'emploi",
    RefusalReason.OTHER_TRAINING: "Entrée dans une autre formation",
    RefusalReason.PERSONAL_CONSTRAINTS: "Contraintes personnelles",
    RefusalReason.DUPLICATE: "Doublon",
    RefusalReason.OTHER: "Autre motif (commentaire obligatoire)",
}

# What the prescriber can do next, shown with the refusal (Pacte §III.2 for the first one, docs/rules.md §3.2).
REFUSAL_HINTS: dict[RefusalReason, str] = {
    RefusalReason.PREREQUISITES_NOT_MET: (
        "Le module de remise à niveau contextualisé peut permettre d'atteindre les prérequis : "
        "envisager une réorientation vers une session qui le propose."
    ),
    RefusalReason.SESSION_FULL: "Réorienter vers une autre session de la même formation.",
}

REASONS_REQUIRING_COMMENT = frozenset({RefusalReason.OTHER})


class PositioningKind(StrEnum):
    INFORMATION_MEETING = "information_meeting"
    TEST = "test"
    INTERVIEW = "interview"


POSITIONING_LABELS: dict[PositioningKind, str] = {
    PositioningKind.INFORMATION_MEETING: "Information collective",
    PositioningKind.TEST: "Test de positionnement",
    PositioningKind.INTERVIEW: "Entretien individuel",
}


class PrescriberKind(StrEnum):
    FRANCE_TRAVAIL = "france_travail"
    MISSION_LOCALE = "mission_locale"
    CAP_EMPLOI = "cap_emploi"
    DEPARTEMENT = "departement"
    SIAE = "siae"


PRESCRIBER_LABELS: dict[PrescriberKind, str] = {
    PrescriberKind.FRANCE_TRAVAIL: "France Travail (Pôle emploi)",
    PrescriberKind.MISSION_LOCALE: "Mission locale",
    PrescriberKind.CAP_EMPLOI: "Cap emploi",
    PrescriberKind.DEPARTEMENT: "Conseil départemental",
    PrescriberKind.SIAE: "Structure d'insertion par l'activité économique",
}


def prescriber_kind_from_code(code: str, prefixes: dict[str, str]) -> PrescriberKind | None:
    """`PE-44001` → france_travail, using the structure-code prefixes of the settings."""
    prefix = code.split("-", 1)[0].strip().upper()
    kind = prefixes.get(prefix)
    return PrescriberKind(kind) if kind else None
