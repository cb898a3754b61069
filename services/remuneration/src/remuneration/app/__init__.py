"""Use cases: each loads, applies the rules (domain/), changes, publishes through the outbox, and commits."""
