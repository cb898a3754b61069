"""Events published by the AGORA gateway on pacte.agora.flows.v1.

Owned by the AGORA gateway (issue 6): flow sent, acknowledged, rejected.
"""
