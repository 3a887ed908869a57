"""The panel's main flows in a real browser against the real stack: redis-server, a host
runtime (our supervisord) running RQ workers and the app's own runtime, and the panel
served over HTTP. Log in, enable Redis beside a tenant's broken file (its notice shows),
restart the app and watch its state change live, read its log, add a program whose apply
fails and retry it once its cause is fixed; a tenant's program that prints markup and
crashes, its crash log shown as text. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import pwd
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser import ServerThread, screenshot, start_browser, unavailable_reason

REASON = unavailable_reason()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=f"browser tests need the real stack: {REASON}"),
    pytest.mark.timeout(300),
]

if REASON is None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import Select

    from admin_web.extensions import databases
    from tests.workers.fixtures import (  # noqa: F401  (fixtures used by name)
        Platform,
        base_dir,
        platform,
        redis_url,
        sqlite_template,
    )

PASSWORD = "browser pass 123"
# A custom program that runs only once its file exists (brackets: a command may hold them).
GUARDED = "/bin/sh -c '[ -f ready ] && exec sleep 1000'"
WAIT = 60.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the DOM changes under us while polling
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


@dataclass
class Stack:
    platform: Any
    url: str
    app_id: int
    app_port: int


@pytest.fixture
def stack(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    platform.add_host("h1")
    app_id, port = platform.create_app(name="shop")
    platform.run("create_app", app_id)
    yield from serve(platform, app_id, port)


def serve(platform: Platform, app_id: int, port: int) -> Iterator[Stack]:
    """The panel over ``platform`` for alice (the app's tenant) and an admin."""
    platform.add_user("alice@acme.example", PASSWORD)
    platform.add_user("root@example.com", PASSWORD, tenant=None, is_admin=True)
    panel = platform.panel(
        SECRET_KEY="browser-tests",
        # Served over plain http on 127.0.0.1 here; CSRF stays on, as in production.
        SESSION_COOKIE_SECURE=False,
        REMEMBER_COOKIE_SECURE=False,
        STATUS_POLL_MS=1000,
    )
    with ServerThread(panel) as server:
        yield Stack(platform, server.url, app_id, port)
    databases(panel).dispose()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


def process_cell(driver: WebDriver, target: str, cell: str) -> str:
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-process="{target}"]')
    return row.find_element(By.CSS_SELECTOR, f"[data-{cell}]").text


def click_form_button(driver: WebDriver, action_suffix: str) -> None:
    """Submit one of the page's forms and wait until the page it redirects to has replaced this
    one: a click returns before the navigation, and whatever the test does next (reading the
    job card, marking the document) must happen on the new page."""
    form = driver.find_element(By.CSS_SELECTOR, f'form[action$="{action_suffix}"]')
    old_page = driver.find_element(By.TAG_NAME, "html")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_for(lambda: _is_stale(old_page), f"the page after {action_suffix}")
    wait_for(
        lambda: driver.execute_script("return document.readyState") == "complete",
        f"the page after {action_suffix} to load",
    )


def _is_stale(element: WebElement) -> bool:
    try:
        element.is_enabled()  # any call on an element of a page that was replaced raises
    except StaleElementReferenceException:
        return True
    return False


def wait_job_card(driver: WebDriver, status: str = "done") -> str:
    def card_status() -> str | None:
        text = driver.find_element(By.CSS_SELECTOR, ".jobcard [data-job-status]").text.lower()
        return text if text in ("done", "failed") else None

    final = wait_for(card_status, "the job card to finish")
    detail = driver.find_element(By.CSS_SELECTOR, ".jobcard").text
    assert final == status, detail
    return detail


def log_in(driver: WebDriver, stack: Stack, email: str = "alice@acme.example") -> None:
    driver.get(f"{stack.url}/login")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".appcard"), "the apps list")


def test_main_flows(stack: Stack, browser: WebDriver) -> None:
    driver = browser
    driver.get(f"{stack.url}/login")
    screenshot(driver, "01-login")
    log_in(driver, stack)
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-app-state]").text == "RUNNING",
        "the app list to show shop running",
    )
    screenshot(driver, "02-apps-list")

    # The app page: its processes, live.
    driver.find_element(By.CSS_SELECTOR, ".appcard").click()
    wait_for(lambda: process_cell(driver, "app", "state") == "RUNNING", "app RUNNING")
    screenshot(driver, "03-app-page")

    # The tenant puts seed 002's typo (numprocs=l) into a file of its own. Enable Redis: the
    # job runs on the host and goes through (the runtime sets the tenant's file aside), redis
    # appears in the table by itself, and so does the notice naming the file, line and value.
    write_tenant_file(stack, "mine.conf", SEED_002_TYPO)
    click_form_button(driver, "/services/redis/enable")
    wait_job_card(driver)
    wait_for(lambda: process_cell(driver, "redis", "state") == "RUNNING", "redis RUNNING")
    assert "Disable Redis" in driver.page_source
    notice = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-config-notice]").text,
        "the set-aside notice, live",
    )
    assert "/srv/conf/supervisor.d/mine.conf line 7 [program:redis_6376] numprocs = l" in notice
    assert "not an integer: 'l'" in notice
    screenshot(driver, "04-redis-enabled-typo-notice")

    # Restart the app; then watch a stop made elsewhere (the CLI) show up without a reload.
    old_pid = process_cell(driver, "app", "pid")
    click_form_button(driver, "/control/app/restart")
    driver.execute_script("window.__sameDocument = true")
    wait_job_card(driver)
    wait_for(
        lambda: (
            process_cell(driver, "app", "pid") not in ("", "—", old_pid)
            and process_cell(driver, "app", "state") == "RUNNING"
        ),
        "a new app pid",
    )
    screenshot(driver, "05-restarted")
    job_id = stack.platform.enqueue("program_action", stack.app_id, action="stop", program="app")
    wait_for(lambda: process_cell(driver, "app", "state") == "STOPPED", "app STOPPED, live")
    assert driver.execute_script("return window.__sameDocument") is True  # no reload happened
    assert process_cell(driver, "app", "pid") == "—"
    wait_for(lambda: job_id in driver.page_source, "the CLI's job in the activity list")
    screenshot(driver, "06-stopped-live")
    click_form_button(driver, "/control/app/start")
    wait_job_card(driver)
    wait_for(lambda: process_cell(driver, "app", "state") == "RUNNING", "app RUNNING again")

    # Read its log: make the app log a request, then tail it, then follow it live.
    wait_for(lambda: _http_get(stack), "the app to answer HTTP")
    driver.find_element(By.LINK_TEXT, "Logs").click()
    wait_for(lambda: driver.find_elements(By.ID, "log-form"), "the log page")
    Select(driver.find_element(By.NAME, "program")).select_by_value("app")
    driver.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    output = lambda: driver.find_element(By.CSS_SELECTOR, "[data-log-output]").text  # noqa: E731
    wait_for(lambda: '"GET / HTTP/1.1" 200' in output(), "the request in the app's log")
    driver.find_element(By.CSS_SELECTOR, "[data-follow]").click()
    _http_get(stack, "/followed-live")
    wait_for(lambda: "/followed-live" in output(), "a new log line while following")
    driver.find_element(By.CSS_SELECTOR, "[data-follow]").click()  # stop following
    screenshot(driver, "07-log-viewer")

    # A failed apply: a program that cannot run yet. The page shows what was asked beside
    # what runs, and Retry mends it once the cause is fixed.
    driver.get(f"{stack.url}/apps/{stack.app_id}/programs/new")
    driver.find_element(By.NAME, "name").send_keys("guard")
    driver.find_element(By.NAME, "command").send_keys(GUARDED)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    detail = wait_job_card(driver, "failed")
    assert "Add program guard" in detail
    differences = lambda: driver.find_element(By.CSS_SELECTOR, "[data-differences]")  # noqa: E731
    wait_for(
        lambda: "Program guard: wanted enabled, fatal; last apply failed" in differences().text,
        "desired and actual side by side",
    )
    assert "queued." not in driver.page_source  # no flash contradicts the card
    assert driver.find_element(By.CSS_SELECTOR, '[data-service-desired="guard"]').text == (
        "WANTED ENABLED"
    )
    assert driver.find_element(By.CSS_SELECTOR, '[data-service-actual="guard"]').text == "FATAL"
    screenshot(driver, "08-failed-apply")
    (stack.platform.app_root(stack.app_id) / "app" / "ready").write_text("")
    differences().find_element(By.CSS_SELECTOR, "[data-retry-form] button").click()
    assert "Retry: Add program guard" in wait_job_card(driver)
    wait_for(lambda: process_cell(driver, "guard", "state") == "RUNNING", "guard RUNNING")
    wait_for(lambda: not differences().is_displayed(), "nothing left that differs")
    screenshot(driver, "09-retried")

    # Change it: a change restarts the program, so the form first shows the same field by
    # field diff as `hostingctl apply --dry-run` and the API's preview; saved on confirming.
    driver.get(f"{stack.url}/apps/{stack.app_id}/programs/guard/edit")
    numprocs = driver.find_element(By.NAME, "numprocs")
    numprocs.clear()
    numprocs.send_keys("2")
    driver.find_element(By.CSS_SELECTOR, "main form button[data-submit]").click()
    preview = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-spec-preview]").text,
        "the change's preview",
    )
    assert "~ programs.guard.numprocs: 1 -> 2" in preview
    assert "Saving restarts: guard" in preview
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-spec-preview] li")) == 1
    screenshot(driver, "09b-program-change-preview")
    driver.find_element(By.CSS_SELECTOR, "main form button[data-submit]").click()
    assert "Change program guard" in wait_job_card(driver)
    for process in ("guard:guard_00", "guard:guard_01"):
        wait_for(lambda p=process: process_cell(driver, p, "state") == "RUNNING", process)

    # Jobs and audit log: who did what, titled by what it did; reading logs is not there.
    driver.find_element(By.LINK_TEXT, "Jobs & audit").click()
    wait_for(lambda: "Jobs &amp; audit log" in driver.page_source, "the jobs page")
    page = driver.page_source
    for title in ("Enable Redis", "Restart app", "Stop app", "Add program guard"):
        assert title in page, title
    assert "Retry: Add program guard" in page
    assert "Apply services" not in page and "Read " not in page
    screenshot(driver, "10-jobs")

    # A custom program with a bad name and a bad environment: both errors, at once.
    driver.get(f"{stack.url}/apps/{stack.app_id}/programs/new")
    driver.find_element(By.NAME, "name").send_keys("Bad Name")
    driver.find_element(By.NAME, "command").send_keys("sleep 1000")
    driver.find_element(By.NAME, "environment").send_keys("novalue")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    error = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, '[data-field-error="name"]').text,
        "the name error",
    )
    assert "is not a valid name" in error
    environment = driver.find_element(By.CSS_SELECTOR, '[data-field-error="environment"]').text
    assert "write NAME=value" in environment
    screenshot(driver, "11-program-validation")

    # An API token, shown once.
    driver.get(f"{stack.url}/account/tokens")
    driver.find_element(By.NAME, "name").send_keys("deploy script")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    token = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-new-token]").text, "the new token"
    )
    assert token.startswith("hst_")
    screenshot(driver, "12-api-token")

    # The app page on a phone-sized window.
    driver.set_window_size(400, 900)
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    wait_for(lambda: process_cell(driver, "app", "state") == "RUNNING", "app RUNNING (mobile)")
    screenshot(driver, "13-app-page-mobile")

    # The operator's view of the host: its real RQ workers are alive.
    driver.set_window_size(1280, 900)
    driver.find_element(By.CSS_SELECTOR, ".account button").click()  # log out
    log_in(driver, stack, "root@example.com")
    driver.get(f"{stack.url}/admin/hosts")
    wait_for(lambda: "host.h1" in driver.page_source, "the hosts page")
    alive = driver.find_element(By.XPATH, "//tr[td[1][normalize-space()='h1']]/td[6]").text
    assert alive.split()[0] == "2", alive  # the host runtime runs two workers
    screenshot(driver, "14-admin-hosts")


SEED_002_TYPO = (
    Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "002_redis_numprocs_l.conf"
).read_text(encoding="utf-8")


def test_live_page_follows_the_tenant_and_recovers(stack: Stack, browser: WebDriver) -> None:
    """Behind the panel's back: the tenant's own ``supervisorctl stop app`` (XML-RPC straight
    to its runtime, no job) shows on an open app page without a reload, pushed by the
    feeder; and the page keeps following after the feeder, the tenant's runtime and the
    platform's Redis were each restarted."""
    from workers.host import host_runtime, program_safe
    from workers.runtime import Runtime

    driver, platform = browser, stack.platform
    host = platform.host_of(stack.app_id)

    def tenant_call(method: str) -> None:
        with Runtime(platform.app_serverurl(stack.app_id), timeout=20) as runtime:
            runtime.call(method, "app:app")

    def shown(state: str, what: str, timeout: float = 20) -> None:
        wait_for(lambda: process_cell(driver, "app", "state") == state, what, timeout)

    def host_program(name: str) -> str:
        return f"{name}:{name}"

    log_in(driver, stack)
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    shown("RUNNING", "the app RUNNING", WAIT)
    driver.execute_script("window.__sameDocument = true")
    tenant_call("stopProcess")
    shown("STOPPED", "the tenant's own stop, live")
    assert process_cell(driver, "app", "pid") == "—"
    tenant_call("startProcess")
    shown("RUNNING", "the tenant's own start, live")

    # The feeder restarted: its new stream's snapshot, then the changes after it.
    feeder = host_program(f"status-{program_safe(host.queue)}")
    with host_runtime(host) as runtime:
        runtime.call("stopProcess", feeder)
        runtime.call("startProcess", feeder)
    tenant_call("stopProcess")
    shown("STOPPED", "a stop after the feeder's restart")
    tenant_call("startProcess")
    shown("RUNNING", "a start after the feeder's restart")

    # The tenant's runtime killed: the host runtime starts it again, and with it the app,
    # in a new process.
    old_pid = process_cell(driver, "app", "pid")
    with host_runtime(host) as runtime:
        tenant = host_program(f"tenant-{program_safe('shop')}")
        os.kill(runtime.states()[tenant]["pid"], signal.SIGKILL)
    wait_for(
        lambda: (
            process_cell(driver, "app", "pid") not in ("", "—", old_pid)
            and process_cell(driver, "app", "state") == "RUNNING"
        ),
        "the app in a new process after its runtime was killed",
    )

    # Redis restarted empty: the feeder writes every status again, the page's stream comes
    # back (or the page polls meanwhile), and changes show again.
    platform.restart_redis()
    tenant_call("stopProcess")
    shown("STOPPED", "a stop after Redis's restart", WAIT)
    tenant_call("startProcess")
    shown("RUNNING", "a start after Redis's restart", WAIT)
    assert driver.execute_script("return window.__sameDocument") is True  # never reloaded
    screenshot(driver, "23-live-after-restarts")


def write_tenant_file(stack: Stack, name: str, text: str) -> None:
    """A file of the tenant's own in its conf/supervisor.d/ (its user's, as it would be)."""
    path = stack.platform.app_root(stack.app_id) / "conf" / "supervisor.d" / name
    path.write_text(text, encoding="utf-8")
    if os.geteuid() == 0:
        user = pwd.getpwnam(f"{stack.platform.user_prefix}{stack.app_id}")
        os.chown(path, user.pw_uid, user.pw_gid)


def _http_get(stack: Stack, path: str = "/") -> bool:
    try:
        stack.platform.http_get(stack.app_id, stack.app_port, path)
        return True
    except OSError:
        return path != "/"  # a 404 for a made-up path still leaves its log line


# -- live updates (admin_web.live): the page follows its event stream ---------------------


class CountingRequests:
    """WSGI middleware counting requests by path, on the server side."""

    def __init__(self, wsgi: Any) -> None:
        self.wsgi = wsgi
        self.paths: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.paths[environ["PATH_INFO"]] += 1
        return self.wsgi(environ, start_response)


@dataclass
class LivePanel:
    app: Any
    world: Any
    url: str
    requests: CountingRequests


@pytest.fixture
def live_panel(
    app_config: dict[str, Any], fast_passwords: None, request: pytest.FixtureRequest
) -> Iterator[LivePanel]:
    """The panel over the web tests' world (no workers): status and history are written
    behind its back exactly as the status feeder writes them."""
    from admin_web import create_app
    from tests.web.fixtures import SHORT_ROOT, populate

    overrides = getattr(request, "param", {})
    panel = create_app({**app_config, "STATUS_POLL_MS": 500, **overrides})
    world = populate(panel, SHORT_ROOT)
    counting = CountingRequests(panel.wsgi_app)
    panel.wsgi_app = counting  # type: ignore[method-assign]
    with ServerThread(panel) as server:
        yield LivePanel(panel, world, server.url, counting)
    databases(panel).dispose()
    panel.extensions["redis"].close()


def log_in_live(driver: WebDriver, live: LivePanel) -> None:
    from tests.web.fixtures import PASSWORD as WEB_PASSWORD

    driver.get(f"{live.url}/login")
    driver.find_element(By.NAME, "email").send_keys("alice@acme.example")
    driver.find_element(By.NAME, "password").send_keys(WEB_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".appcard"), "the apps list")


def open_app_page(driver: WebDriver, live: LivePanel) -> None:
    log_in_live(driver, live)
    driver.get(f"{live.url}/apps/{live.world.shop_id}")


def listening(redis_client: Any, channel: str | None = None) -> bool:
    """A stream is subscribed: to ``channel``, or to the apps list's pattern."""
    if channel is None:
        return int(redis_client.execute_command("PUBSUB", "NUMPAT")) >= 1
    return int(redis_client.pubsub_numsub(channel)[0][1]) >= 1


# Set window.__changed to Date.now() when the app row's pid cell says arguments[0].
WATCH_PID = """
window.__changed = null;
const wanted = String(arguments[0]);
const observer = new MutationObserver(() => {
  const cell = document.querySelector('tr[data-process="app"] [data-pid]');
  if (cell && cell.textContent === wanted && window.__changed === null) {
    window.__changed = Date.now();
    observer.disconnect();
  }
});
observer.observe(document.querySelector("[data-process-rows]"),
                 {subtree: true, childList: true, characterData: true});
"""


def test_live_page_follows_the_feeder_without_polling(
    live_panel: LivePanel, browser: WebDriver, redis_client: Any
) -> None:
    from hosting import live_events

    from tests.web.test_live_stream import CRASH, RESTART, feed_history, feed_status

    live, driver = live_panel, browser
    shop = live.world.shop_id
    status_path = f"/apps/{shop}/status.json"
    feed_status(redis_client, shop, 100)
    open_app_page(driver, live)
    channel = live_events.app_channel(shop)
    wait_for(lambda: listening(redis_client, channel), "the page's event stream", 10)
    wait_for(lambda: process_cell(driver, "app", "pid") == "100", "the first status", 10)
    polled_before = live.requests.paths[status_path]

    latencies = []
    for round_ in range(20):
        pid = 2000 + round_
        driver.execute_script(WATCH_PID, pid)
        published = time.time() * 1000
        feed_status(redis_client, shop, pid)
        changed = wait_for(
            lambda: driver.execute_script("return window.__changed"), f"pid {pid} shown", 10
        )
        latencies.append(changed - published)
    assert process_cell(driver, "app", "state") == "RUNNING"
    feed_status(redis_client, shop, 3000, "EXITED")
    wait_for(lambda: process_cell(driver, "app", "state") == "EXITED", "the app EXITED", 10)
    assert process_cell(driver, "app", "pid") == "—"
    # Not one status.json request: every change came over the stream.
    assert live.requests.paths[status_path] == polled_before
    assert live.requests.paths[f"/apps/{shop}/events"] == 1
    latencies.sort()
    median = (latencies[9] + latencies[10]) / 2
    print(f"publish -> DOM change, 20 rounds: median {median:.0f} ms, max {latencies[-1]:.0f} ms")
    assert median < 500, latencies

    # The restart history, crash log included, arrives the same way; its text stays text.
    feed_history(redis_client, shop, [CRASH, RESTART])
    rows = "#history tr[data-history-entry]"
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, rows)) == 2, "two entries", 10)
    first, second = driver.find_elements(By.CSS_SELECTOR, rows)
    assert "STARTING" in first.text and "by uid 1000 (alice), pid 77 on the unix" in first.text
    assert not first.find_element(By.CSS_SELECTOR, "[data-crash-log]").is_displayed()
    crash = second.find_element(By.CSS_SELECTOR, "[data-crash-log]")
    crash.find_element(By.CSS_SELECTOR, "summary").click()
    log_text = crash.find_element(By.CSS_SELECTOR, "pre").text
    assert "<boom> & 'quotes'" in log_text and "ValueError: bad" in log_text
    assert driver.find_elements(By.CSS_SELECTOR, "boom") == []
    driver.execute_script("document.getElementById('history').scrollIntoView()")
    screenshot(driver, "20-live-history-crash-log")
    # Kept in Redis: a reload shows it again, from the page itself.
    driver.get(f"{live.url}/apps/{shop}")
    entries = driver.find_elements(By.CSS_SELECTOR, rows)
    assert len(entries) == 2 and "ValueError: bad" in entries[1].get_attribute("innerHTML")
    screenshot(driver, "21-live-app-page")


def test_live_apps_list(live_panel: LivePanel, browser: WebDriver, redis_client: Any) -> None:
    from tests.web.test_live_stream import feed_status

    live, driver = live_panel, browser
    log_in_live(driver, live)
    wait_for(lambda: listening(redis_client), "the list's event stream", 10)
    badge = f'[data-app-id="{live.world.shop_id}"] [data-app-state]'
    polled = live.requests.paths["/apps/status.json"]
    feed_status(redis_client, live.world.shop_id, 100)
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, badge).text.lower() == "running",
        "shop running on the list",
        10,
    )
    assert live.requests.paths["/apps/status.json"] == polled
    screenshot(driver, "22-live-apps-list")


@pytest.mark.parametrize("live_panel", [{"EVENT_STREAMS_MAX": 0}], indirect=True)
def test_live_page_polls_when_the_stream_is_refused(
    live_panel: LivePanel, browser: WebDriver, redis_client: Any
) -> None:
    """Beyond the cap (here: none allowed) the stream is a 503 and the page polls."""
    from tests.web.test_live_stream import feed_status

    live, driver = live_panel, browser
    shop = live.world.shop_id
    feed_status(redis_client, shop, 100)
    open_app_page(driver, live)
    status_path = f"/apps/{shop}/status.json"
    wait_for(lambda: live.requests.paths[status_path] >= 2, "the page to poll", 10)
    feed_status(redis_client, shop, 777)
    wait_for(lambda: process_cell(driver, "app", "pid") == "777", "the polled change", 10)
    assert live.requests.paths[f"/apps/{shop}/events"] >= 1


# Programs beside the app for the graphs: one that keeps a core busy and one that holds 50 MiB.
BURN = "python3 -c 'while True: pass'"
HOLD = "python3 -c 'import time; b = b\"x\" * (50 << 20); time.sleep(3600)'"


@pytest.fixture
def usage_stack(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    platform.add_host("h1", usage_interval=2)  # the host's real sampler, a round every 2 s
    app_id, port = platform.create_app(name="shop")
    with platform.sessions() as session:
        from hosting import services
        from hosting.models import App

        app = session.get(App, app_id)
        services.add_service(session, app, "custom", "burn", {"command": BURN})
        services.add_service(session, app, "custom", "hold", {"command": HOLD})
        session.commit()
    platform.run("create_app", app_id)
    yield from serve(platform, app_id, port)


def chart(driver: WebDriver, kind: str, attribute: str) -> int:
    element = driver.find_element(By.CSS_SELECTOR, f'[data-usage-chart="{kind}"]')
    return int(element.get_attribute(f"data-{attribute}") or 0)


def test_usage_graphs(usage_stack: Stack, browser: WebDriver) -> None:
    """The app page draws what the host's sampler stored: CPU and memory of the app and of
    each program, the restart marks at their times, the last hour and the last day."""
    from hosting.live_events import append_history

    stack, driver = usage_stack, browser
    now = time.time()
    exited = {
        "process": "burn:burn",
        "from": "RUNNING",
        "to": "EXITED",
        "reason": "exit",
        "description": "exit status 1",
        "pid": 12,
        "time": now - 8,
    }
    started = {
        **exited,
        "from": "EXITED",
        "to": "STARTING",
        "reason": "autorestart",
        "time": now - 7,
    }
    running = {**started, "from": "STARTING", "to": "RUNNING", "reason": "started", "time": now - 6}
    append_history(stack.platform.redis, stack.app_id, [exited, started, running])
    log_in(driver, stack)
    driver.get(f"{stack.url}/apps/{stack.app_id}")
    # The app and its three programs, and a few rounds with a CPU rate (the first has none).
    wait_for(lambda: chart(driver, "memory", "series") == 4, "four memory series")
    wait_for(lambda: chart(driver, "cpu", "points") >= 3, "three rounds of CPU")
    for kind in ("cpu", "memory"):
        box = driver.find_element(By.CSS_SELECTOR, f'[data-usage-chart="{kind}"]')
        canvas = box.find_element(By.TAG_NAME, "canvas")
        assert canvas.size["width"] > 300 and canvas.size["height"] > 100
        labels = [e.text for e in box.find_elements(By.CSS_SELECTOR, ".u-legend .u-label")]
        assert labels[1:] == ["app", "app:app", "burn:burn", "hold:hold"], labels
        # The two marks of the range (a crash, a restart) drawn, with their reason on hover.
        titles = [
            e.get_attribute("title") for e in box.find_elements(By.CSS_SELECTOR, ".usage-mark")
        ]
        # (The feeder also keeps the real history: the programs' autostart.)
        ours = [title for title in titles if "(exit)" in title or "(autorestart)" in title]
        assert len(ours) == 2 and "(exit)" in ours[0] and "(autorestart)" in ours[1], titles
    listed = driver.find_elements(By.CSS_SELECTOR, "[data-usage-marks] [data-usage-mark]")
    marks = [item.text.split(" ", 1)[1] for item in listed]
    assert [mark for mark in marks if "(autostart)" not in mark] == [
        "burn:burn: EXITED → STARTING (autorestart)",
        "burn:burn: RUNNING → EXITED (exit)",
    ], marks
    # What the charts show is what the sampler stored: the busy program has the CPU.
    data = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const url = document.querySelector('[data-usage]').dataset.usageUrl;"
        "fetch(url).then(r => r.json()).then(done);"
    )

    def busiest(kind: str, name: str) -> float:
        return max((v for v in data["processes"][name][kind] if v is not None), default=0)

    # (How much of a core the spinner gets depends on the shared machine's load.)
    assert busiest("cpu", "burn:burn") > max(
        1, busiest("cpu", "app:app"), busiest("cpu", "hold:hold")
    )
    assert busiest("memory", "hold:hold") > 50 * 1024 * 1024
    driver.execute_script("document.getElementById('usage').scrollIntoView()")
    screenshot(driver, "15-usage-hour")

    # New rounds reach the open page by themselves.
    points = chart(driver, "cpu", "points")
    wait_for(lambda: chart(driver, "cpu", "points") > points, "a new round drawn", timeout=30)

    driver.find_element(By.CSS_SELECTOR, '[data-usage-range="day"]').click()
    section = driver.find_element(By.ID, "usage")
    wait_for(lambda: section.get_attribute("data-loaded") == "day", "the day range")
    assert chart(driver, "memory", "points") >= 1 and chart(driver, "memory", "series") == 4
    screenshot(driver, "16-usage-day")


# -- a tenant's program prints markup and crashes: the crash log shows as text -------------
#
# The whole real path, nothing written on the platform's behalf: the tenant deploys a program
# into its app (a file in its tree, its command set through the platform), the program runs
# in the app's container under its runtime, prints HTML/JS (a ``<script>``, an ``<img
# onerror>``, a fake ``</pre>`` closing the log's element early) and exits unexpectedly. The
# runtime keeps the last lines with the history entry, its state stream carries them to the
# feeder, the feeder to Redis, and the panel shows them: to the operator and to the tenant,
# live on an open page and again after a reload, as text: no element injected, no script
# run. The API gives them back verbatim, as JSON.

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
    """Write ``path`` in the app's tree as the app's own user would: whole and the user's
    when it appears (a program waiting for it may take it at once: the crasher unlinks it)."""
    owner = path.parent.stat()
    draft = path.with_name(f".{path.name}.draft")
    draft.write_text(text)
    os.chown(draft, owner.st_uid, owner.st_gid)
    draft.rename(path)


@pytest.fixture
def crasher(stack: Stack) -> Stack:
    """``stack`` with the app running the tenant's crasher (its command set through the
    platform: the service's setting, then an apply job)."""
    from hosting import services
    from hosting.models import App

    from tests.workers.fixtures import DEBIAN_PYTHON

    platform = stack.platform
    as_tenant(platform.app_root(stack.app_id) / "app" / "crash.py", CRASHER)
    with platform.sessions() as session:
        app = session.get(App, stack.app_id)
        service = services.service_named(session, app, "app")
        services.update_service(session, service, {"command": f"{DEBIAN_PYTHON} crash.py"})
        session.commit()
    platform.run("apply_services", stack.app_id)
    return stack


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
    from hosting.models import User
    from hosting.tokens import create_token

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
    from hosting.live_events import app_channel, read_history

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
