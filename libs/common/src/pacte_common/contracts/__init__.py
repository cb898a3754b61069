"""Event contracts of the whole suite, one module per publishing service.

Importing this package registers every event type (consumers and the AsyncAPI catalogue
rely on it). Schema changes are additive within a version; a breaking change is a new vN.
"""

from pacte_common.contracts import (  # noqa: F401
    agora,
    attendance,
    france_travail,
    orientation,
    outcomes,
    people,
    remuneration,
    sessions,
)
