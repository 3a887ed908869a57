"""A tenant's program prints markup and crashes: the crash log shows as text.

The whole real path, nothing written on the platform's behalf: the tenant deploys a program
into its app (a file in its tree, its command set through the platform), the program runs
in the app's container under its runtime, prints HTML/JS (a ``<script>``, an ``<img
onerror>``, a fake ``</pre>`` closing the log's element early) and exits unexpectedly. The
runtime keeps the last lines with the history entry, its state stream carries them to the
feeder, the feeder to Redis, and the panel shows them: to the operator and to the tenant, in
a real browser (Chromium), live on an open page and again after a reload, as text: no
element injected, no script run. The API gives them back verbatim, as JSON."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hosting import services
from hosting.live_events import app_channel, read_history
from hosting.models import App, User
from hosting.tokens import create_token

from tests.web.browser import screenshot, start_browser, unavailable_reason

REASON = unavailable_reason()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=f"browser tests need the real stack: {REASON}"),
    pytest.mark.timeout(300),
]

if REASON is None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    from tests.web.test_browser import (
        Stack,
        listening,
        log_in,
        serve,
        wait_for,
    )
    from tests.workers.fixtures import (  # noqa: F401  (fixtures used by name)
        DEBIAN_PYTHON,
        Platform,
        base_dir,
        platform,
        redis_url,
        sqlite_template,
    )

MARKUP = [
    "<script>window.__pwned = 'script';</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    '</pre></details><b id="injected">out of the log</b><details><pre>',
    "\"quotes\" & 'apostrophes' &amp; &lt;already escaped&gt;",
]
PRINTED = "\n".join(MARKUP)
# The tenant's program: runs until told to crash (a file it waits for), then prints the
# markup and exits with a status its program does not expect.
CRASHER = f"""import os, sys, time
while not os.path.exists("crash-now"):
    time.sleep(0.05)
os.unlink("crash-now")
print({PRINTED!r}, flush=True)
sys.exit(3)
"""
CRASH_LOG = "#history tr[data-history-entry] [data-crash-log]"


def as_tenant(path: Path, text: str) -> None:
    """Write ``path`` in the app's tree as the app's own user would."""
    owner = path.parent.stat()
    path.write_text(text)
    os.chown(path, owner.st_uid, owner.st_gid)


@pytest.fixture
def crasher(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The app ``shop`` running the tenant's crasher in its container, and the panel."""
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    platform.add_host("h1")
    app_id, port = platform.create_app(name="shop")
    platform.run("create_app", app_id)
    as_tenant(platform.app_root(app_id) / "app" / "crash.py", CRASHER)
    with platform.sessions() as session:
        app = session.get(App, app_id)
        command = f"{DEBIAN_PYTHON} crash.py"
        services.update_service(
            session, services.service_named(session, app, "app"), {"command": command}
        )
        session.commit()
    platform.run("apply_services", app_id)
    yield from serve(platform, app_id, port)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


def crash_log_text(driver: WebDriver) -> str | None:
    """The crash log of the newest history entry that has one, opened; None while none."""
    for crash in driver.find_elements(By.CSS_SELECTOR, CRASH_LOG):
        if crash.get_attribute("hidden") is None:
            if crash.get_attribute("open") is None:
                crash.find_element(By.CSS_SELECTOR, "summary").click()
            return crash.find_element(By.CSS_SELECTOR, "pre").text
    return None


def assert_shown_as_text(driver: WebDriver) -> None:
    text = wait_for(lambda: crash_log_text(driver), "the crash log on the page", 30)
    assert text.splitlines()[-len(MARKUP) :] == MARKUP, text
    assert driver.execute_script("return window.__pwned") is None  # no script ran
    assert driver.find_elements(By.CSS_SELECTOR, "#injected") == []  # nothing broke out
    assert driver.find_elements(By.CSS_SELECTOR, "#history img, #history script") == []


def api_history(stack: Stack, email: str) -> list[dict[str, Any]]:
    with stack.platform.sessions() as session:
        user = session.query(User).filter_by(email=email).one()
        _token, plaintext = create_token(session, user, "attack test")
        session.commit()
    request = urllib.request.Request(
        f"{stack.url}/api/v1/apps/{stack.app_id}/history",
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/json")
        return json.loads(answer.read())["history"]


def test_markup_printed_by_a_crashing_tenant_program_is_shown_as_text(
    crasher: Stack, browser: WebDriver
) -> None:
    stack, driver = crasher, browser
    platform = stack.platform
    # The operator's page is open before the crash: the entry arrives live.
    log_in(driver, stack, email="root@example.com")
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    channel = app_channel(stack.app_id)
    wait_for(lambda: listening(platform.redis, channel), "the page's event stream", 10)
    as_tenant(platform.app_root(stack.app_id) / "app" / "crash-now", "")

    # Through the runtime's stream and the feeder, kept in Redis with the entry.
    def crash_entry() -> dict[str, Any] | None:
        entries = read_history(platform.redis, stack.app_id)
        return next((e for e in entries if e.get("log_tail")), None)

    entry = wait_for(crash_entry, "the crash in the kept history", 30)
    assert entry["to"] == "EXITED" and entry["exitstatus"] == 3, entry
    assert entry["log_tail"].rstrip("\n") == PRINTED
    assert_shown_as_text(driver)  # drawn live by panel.js
    driver.execute_script("document.getElementById('history').scrollIntoView()")
    screenshot(driver, "24-crash-log-markup-live")
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    assert_shown_as_text(driver)  # rendered by the server

    # The tenant's own view of it: the same, as text.
    driver.delete_all_cookies()
    log_in(driver, stack)
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    assert_shown_as_text(driver)
    screenshot(driver, "25-crash-log-markup-tenant")

    # The API: the same text, verbatim, for both.
    for email in ("root@example.com", "alice@acme.example"):
        tails = [e["log_tail"] for e in api_history(stack, email) if e.get("log_tail")]
        assert tails and tails[0].rstrip("\n") == PRINTED, tails
