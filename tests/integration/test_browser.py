"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Seeded data, the real app under uvicorn on loopback: load the hits page,
filter by watchlist, search a term, open a hit, see its highlighted
snippet, and no console errors. Screenshots go to tests/artifacts/ (and
docs/dashboard.png, the README's picture).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.store.engine import make_engine
from tests.integration.test_web import config, running, seed

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")


def test_dashboard_in_a_browser(tmp_path: Path, make_settings: Callable[..., Settings], database_url: str) -> None:
    from playwright.sync_api import sync_playwright

    if not database_url.startswith("sqlite"):
        pytest.skip("the browser test needs one backend; the API tests cover PostgreSQL")
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    ids = seed(engine)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with running(settings, engine) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/hits")
            assert page.locator("article.hit").count() == 29
            if os.environ.get("MONITOR_UPDATE_SCREENSHOT", "1") == "1":
                page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=False)
            # Filter by watchlist.
            page.select_option("select[name=watchlist]", "security")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/hits?*watchlist=security*")
            assert page.locator("article.hit").count() == 1
            assert page.locator("article.hit h2 a").first.inner_text().startswith("Security agreement signed <script>")
            # Search a term (any watchlist).
            page.select_option("select[name=watchlist]", "")
            page.fill("input[name=q]", "zanzibar")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**q=zanzibar*")
            hits = page.locator("article.hit")
            assert hits.count() == 1
            # Open the hit and see why it matched.
            hits.locator("h2 a").first.click()
            page.wait_for_url(f"**/hits/{ids['hits'][7]}")
            mark = page.locator("p.snippet mark").first
            assert mark.inner_text() == "cartel"
            assert "story <b>7</b>" in page.locator("p.snippet").first.inner_text()  # escaped, not bold
            page.screenshot(path=str(ARTIFACTS / "hit.png"), full_page=True)
            # A phone-sized viewport reads too.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            phone.goto(base + "/feeds")
            assert phone.locator("table.feeds tbody tr").count() == 3
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"the feeds page scrolls sideways on a phone ({width}px)"
            phone.screenshot(path=str(ARTIFACTS / "feeds-phone.png"), full_page=True)
        finally:
            browser.close()
    engine.dispose()
    assert errors == [], errors
