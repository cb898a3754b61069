"""The AGORA sandbox: a development and test server implementing the AGORA contract
(docs/agora-contract.md). It stands in for a separate system, so it
shares no code with the gateway: it has its own copy of the wire contract and of AGORA's rules."""
