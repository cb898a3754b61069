"""The use cases: one module per aggregate; the only place that commits."""
