"""The outbound engine: legal flows sent to a partner in each file's order and exactly once.

AGORA (app/flows.py) and France Travail (app/france_travail.py) are its adapters.
"""
