"""Retailer settings come from the environment and default to the real sites."""

from __future__ import annotations

import pytest
from splitcart_scraper.adapters.settings import ScraperRetailerSettings


def test_defaults_are_the_real_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COLES", "WOOLWORTHS", "ALDI", "IGA"):
        monkeypatch.delenv(f"SPLITCART_{name}_BASE_URL", raising=False)
    settings = ScraperRetailerSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.base_url("coles") == "https://www.coles.com.au"
    assert settings.base_url("woolworths") == "https://www.woolworths.com.au"
    assert settings.base_url("aldi") == "https://api.aldi.com.au"
    assert settings.base_url("iga") == "https://www.igashop.com.au"


def test_bases_politeness_retries_and_sessions_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPLITCART_ALDI_BASE_URL", "http://127.0.0.1:8700/aldi/")
    monkeypatch.setenv("SPLITCART_IGA_LOCATOR_URL", "http://127.0.0.1:8700/iga-locator")
    monkeypatch.setenv("SPLITCART_COLES_RPS", "0")
    monkeypatch.setenv("SPLITCART_RETRY__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("SPLITCART_RETRY_BY_COMPANY", '{"coles": {"max_attempts": 2}}')
    monkeypatch.setenv("SPLITCART_COLES_COOKIE_JAR", "visid_incap_1=a; incap_ses_1_1=b")
    settings = ScraperRetailerSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.base_url("aldi") == "http://127.0.0.1:8700/aldi"
    assert settings.iga_locator_url == "http://127.0.0.1:8700/iga-locator"
    assert settings.rps("coles") == 0
    assert settings.retry_policy("aldi").max_attempts == 7
    assert settings.retry_policy("coles").max_attempts == 2
    assert settings.coles_cookie_jar == "visid_incap_1=a; incap_ses_1_1=b"
