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
from collections.abc import Iterable
from operator import attrgetter

# The columns of `remuneration_files` that pay depends on: the only ones (with the identifiers a
# statement copies, `db/runs.py`) a run reads, so none can change what a month is worth unseen.
FILE_FACTS = (
    "state", "profile", "weekly_hours", "tension_sector", "entry_date", "exit_date", "session_end_date",
    "exit_declared_at", "cancelled_at", "request_facts", "france_travail_answer", "regime", "regime_reason",
    "differential_eligible",
)
# What a run reads of each interruption (db/files.py, interruptions_by_file).
INTERRUPTION_FACTS = ("start_date", "resumption_date", "declared_at", "resumption_declared_at")


_file_facts = attrgetter(*FILE_FACTS)
_interruption_facts = attrgetter(*INTERRUPTION_FACTS)


def file_facts_digest(file, interruptions: Iterable) -> str:
    """Identifies a file's own facts as a run reads them (its row and its interruptions, in any order).

    The repr of the values read (JSON columns keep the order they were written in): cheap enough
    for every file of every run; the same facts written again in another order only cost a review."""
    stops = sorted(repr(_interruption_facts(i)) for i in interruptions)
    return hashlib.blake2b(repr((_file_facts(file), stops)).encode(), digest_size=16).hexdigest()
