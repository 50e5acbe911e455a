"""Browser tests: Debian's Chromium driven by Playwright for Python against a live SDX with real S3.

Each test gets a fresh browser context (its own cookies). ``shot`` saves a screenshot under
``test-artefacts/screenshots/`` (named in the README) for reviewers; ``assert_accessible`` runs
axe-core (pinned in axe-playwright-python) and fails on any serious or critical violation.
The tests run on one backend: PostgreSQL when it is configured, else SQLite.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, POSTGRES_URL, project_root, service_missing, serving

CHROMIUM = os.environ.get("SDX_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = project_root() / "test-artefacts" / "screenshots"
#: As the machine's probe starts it: no sandbox (root), no GPU, and no calls home, which this closed
#: network refuses many at a time.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(params=["postgresql" if POSTGRES_URL else "sqlite"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        service_missing(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def site(make_app):
    """A live SDX on loopback (threaded server, real S3); ``site.user(...)`` adds accounts."""
    with serving(make_app) as live:
        yield live


@pytest.fixture
def browser_page(chromium):
    """A page in a fresh context (desktop size, English); ``new_page`` makes others (phone, Chinese)."""
    contexts = []

    def new_page(viewport=DESKTOP, locale="en-GB"):
        context = chromium.new_context(viewport=viewport, locale=locale, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would (found by its fields' names, so that it
    works in either language)."""
    page.goto(f"{base_url}/login")
    form = page.locator("form:has(input[name=password])")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def shot(page, name: str) -> Path:
    """A full-page screenshot for reviewers, under test-artefacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, "\n".join(
        f"{v['impact']}: {v['id']} — {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['html'][:160]})" for v in bad)
