"""Fixtures of the sandbox's tests: the sandbox over real HTTP."""

from __future__ import annotations

import pytest
from pacte_testing.agora import running_sandbox


@pytest.fixture
async def sandbox():
    async with running_sandbox(random_seed=20261126) as running:
        yield running
