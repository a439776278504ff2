from __future__ import annotations

import pytest

from sfsync.scoring import load_scorecard


@pytest.fixture(scope="session")
def default_card():
    return load_scorecard("mappings/scorecards/default.yaml")
