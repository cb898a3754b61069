"""Benchmark scenarios. Each module exposes `SCENARIO: Scenario` (see benchmarks.core)."""
