"""The operator console in a real headless browser (Debian's chromium driven by Playwright):
an operator signs in, sees every part healthy with the outbox and the consumers, the dead
letters, and a person's history; anyone else is refused. The screenshot is kept in
.shebao/artifacts/console.png."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from deploy.demo.citizens import fake_citizen
from deploy.paths import REPO, free_port, shebao_home
from deploy.stack import Infrastructure, ServiceProcess

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def console(
    services: dict[str, ServiceProcess],
    infra: Infrastructure,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "SHEBAO_HOME": str(tmp_path_factory.mktemp("console")),
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "DATABASE_URL": infra.database_url,
        **{f"{name.upper()}_PORT": str(proc.port) for name, proc in services.items()},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.console", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def sign_in(page: Page, console: str, key: str) -> None:
    page.goto(f"{console}/login")
    page.fill("#key", key)
    page.click("#sign-in")


def test_only_an_operator_gets_in(console: str, page: Page) -> None:
    page.goto(console)
    assert page.url.endswith("/login")
    sign_in(page, console, "dev-window")
    assert page.locator("#refused").is_visible()
    assert (
        httpx.get(f"{console}/dead-letters", timeout=10, follow_redirects=False).status_code == 303
    )


def test_an_operator_sees_the_platform_and_a_persons_history(
    console: str, page: Page, services: dict[str, ServiceProcess]
) -> None:
    registered = httpx.post(
        f"{services['identity'].url}/v1/persons",
        json=fake_citizen(random.Random(8)).registration(),
        headers={"X-Api-Key": "dev-operator"},
        timeout=30,
    )
    person_id = registered.json()["person_id"]
    sign_in(page, console, "dev-operator")
    health = page.locator("#health")
    for part in ("Kafka", "PostgreSQL", "identity", "card", "activation", "notification"):
        assert health.locator("tr", has_text=part).locator(".ok").count() == 1, part
    spine = page.locator("#spine")
    deadline = time.monotonic() + 30
    while spine.locator("td", has_text="yes").count() < 4 and time.monotonic() < deadline:
        page.reload()  # each relay shows as active once its first sample is taken
        spine = page.locator("#spine")
    assert spine.locator("td", has_text="yes").count() == 4
    artefacts = shebao_home() / "artifacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artefacts / "console.png"), full_page=True)

    page.click("text=Dead letters")
    assert page.locator("#letters").is_visible()

    page.click("text=A person")
    page.fill("#person-id", person_id)
    page.click("#look")
    timeline = page.locator("#timeline")
    assert timeline.locator("td", has_text="PersonRegistered").count() == 1
    # The operator's read is kept in the person's own history.
    page.reload()
    assert page.locator("#timeline td", has_text="PersonDataAccessed").count() >= 1
    assert Path(artefacts / "console.png").stat().st_size > 10_000


def test_forms_from_elsewhere_and_markup_in_input_do_nothing(console: str, page: Page) -> None:
    sign_in(page, console, "dev-operator")
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}
    ref = "<img src=x onerror=alert(1)>"
    posted = httpx.post(
        f"{console}/dead-letters/identity/{ref}",
        data={"action": "skip", "reason": "x"},
        cookies=cookie,
        headers={"Origin": "http://127.0.0.1:1"},  # another port of this host
        timeout=30,
    )
    assert posted.status_code == 403
    same_origin = httpx.post(
        f"{console}/dead-letters/identity/{ref}",
        data={"action": "skip", "reason": "x"},
        cookies=cookie,
        headers={"Origin": console},
        timeout=30,
    )
    assert same_origin.status_code == 409
    assert "<img" not in same_origin.text
    assert "frame-ancestors 'none'" in same_origin.headers["content-security-policy"]
    page.goto(f"{console}/persons?person_id=110101199003074258&reason=AUDIT")
    assert page.locator("#problem").is_visible()  # no person id: nothing read, nothing logged
    assert page.locator("#timeline").count() == 0
