"""The AGORA sandbox: a development and test server implementing docs/agora-contract.md."""
