"""France Travail sandbox: a stand-in for France Travail's training certificates (docs/france-travail.md)."""
