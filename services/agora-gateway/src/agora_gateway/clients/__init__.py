"""The clients of other systems (AGORA)."""
