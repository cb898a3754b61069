"""The read side of the Pacte: indicators, results, trajectories, skills passport, satisfaction, territories and the public search, built from every service's events (docs/insights.md)."""
