"""Events published by the remuneration service on pacte.remuneration.payments.v1.

Owned by the remuneration service (issue 5): entitlement opened/closed, month computed,
payment issued, emergency aid granted.
"""
