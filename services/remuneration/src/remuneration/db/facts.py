"""What a statement was computed from (docs/remuneration.md, "Only what changed is reviewed"), so a
run reviews only the months whose facts changed since a validated run settled them.

Nothing is raised or bumped when a fact changes: the run derives these keys from the very facts it
reads to compute the month, and a statement remembers them. A change of a fact is therefore seen
whichever way it was written (a use case, a bulk or Core statement, a deleted interruption, an
operator's SQL), and a change of anything pay does not read (the dossier's status and version in
sessions, the sealed identity, the IBAN) reviews nothing.

- `file_facts_digest`: the file's own facts, which concern every month: the columns of the file a
  run reads to pay (`FILE_FACTS`) and its interruptions.
- the month's own fact, its attendance statement: the version that counts (`app/runs.py` remembers
  each month's, `Statement.month_facts`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

# The columns of `remuneration_files` that pay depends on: the only ones (with the identifiers a
# statement copies, `db/runs.py`) a run reads, so none can change what a month is worth unseen.
FILE_FACTS = (
    "state", "profile", "weekly_hours", "tension_sector", "entry_date", "exit_date", "session_end_date",
    "exit_declared_at", "cancelled_at", "request_facts", "france_travail_answer", "regime", "regime_reason",
    "differential_eligible",
)
# What a run reads of each interruption (db/files.py, interruptions_by_file).
INTERRUPTION_FACTS = ("start_date", "resumption_date", "declared_at", "resumption_declared_at")


def file_facts_digest(file, interruptions: Iterable) -> str:
    """Identifies a file's own facts as a run reads them (its row and its interruptions, in any order)."""
    stops = sorted([str(getattr(i, name)) for name in INTERRUPTION_FACTS] for i in interruptions)
    payload = json.dumps([[getattr(file, name) for name in FILE_FACTS], stops], default=str, sort_keys=True,
                         separators=(",", ":"))
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()

