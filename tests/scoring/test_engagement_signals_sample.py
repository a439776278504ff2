"""On the sample book (engagement fades before churn, seed 000) the engagement signals find the
accounts the story puts there, and the minimum volume keeps chance out of the healthy ones."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sfsync_sandbox.sample_data import generate

from sfsync.scoring import load_scorecard, score_accounts
from sfsync.sources.engagement import derive_tutorial_completed
from sfsync.templates import load_templates
from tests.automation.test_sandbox_e2e import canonical

AS_OF = date(2025, 3, 15)


@pytest.fixture(scope="module")
def by_archetype() -> pd.DataFrame:
    book = generate(accounts=150, seed=7, as_of=AS_OF)
    accounts, activities, _ = canonical(book)
    result = score_accounts(
        accounts,
        derive_tutorial_completed(book.usage),
        activities,
        as_of=AS_OF,
        scorecard=load_scorecard("mappings/scorecards/default.yaml"),
        templates=load_templates("mappings/templates", "ja"),
    )
    archetype = book.profiles.set_index("Id")["archetype"]
    signals = result.signals.assign(archetype=result.signals["account_id"].map(archetype))
    return pd.crosstab(signals["archetype"], signals["code"])


def test_falling_mail_engagement_finds_the_declining_accounts_not_the_healthy(by_archetype):
    falling = by_archetype["email_engagement_falling"]
    assert falling.get("declining", 0) >= 10  # of 15 linked declining accounts
    assert falling.get("healthy", 0) <= 2  # of 56: chance halvings of small numbers
    thriving = falling.reindex(["healthy", "rising", "near_limit"]).fillna(0).sum()
    assert thriving <= 3  # of 81 accounts doing well


def test_rising_content_interest_finds_the_rising_accounts(by_archetype):
    rising = by_archetype["content_interest_rising"]
    assert rising.get("rising", 0) >= 9
    assert rising.get("declining", 0) == 0 and rising.get("low_usage", 0) == 0


def test_onboarding_signals_fall_on_new_accounts_at_risk(by_archetype):
    at_risk = ["low_usage", "declining", "idle", "ticket_spike"]
    tutorial = by_archetype["tutorial_not_completed"]
    assert tutorial.reindex(at_risk).fillna(0).sum() >= 4
    assert tutorial.get("healthy", 0) == 0
    videos = by_archetype["onboarding_videos_unwatched"]
    # the two new at-risk accounts with logs since their start (the others started in March)
    assert videos.reindex(at_risk).fillna(0).sum() >= 2
    assert videos.get("healthy", 0) == 0 and videos.get("rising", 0) == 0
