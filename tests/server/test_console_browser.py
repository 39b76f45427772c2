"""The console in a real browser (Playwright driving the system's Chromium): sign-in by token,
the queue's order, the Operation Strive cluster graph, working a referral to an outcome that
the ASW then reads with the SDK, refusals, CSRF, sign-out, the content security policy, and
accessibility (axe, WCAG 2.2 AA). Skipped where no Chromium is installed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Receiver
from .test_linking import OP_STRIVE, submit_examples

CHROMIUM = Path(os.environ.get("STRIVE_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
        "or set STRIVE_CHROMIUM)",
        allow_module_level=True,
    )

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402

SCREENSHOTS = os.environ.get("STRIVE_CONSOLE_SCREENSHOTS")
"""A folder to save the README's screenshots into (docs/console), when set."""
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
WCAG_22_AA = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
        )
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """One person's browser tab, recording any policy violation the page reports."""

    def __init__(self, browser: Browser, receiver: Receiver) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.receiver = receiver
        self.problems: list[str] = []

        def watch(message: ConsoleMessage) -> None:
            # A refusal page is itself a 403 document; anything else is a fault (a blocked
            # script or style, a missing asset, a script error).
            # "Failed to load resource" is left to watch_response, which knows the URL: the
            # browser may probe paths of its own outside the console (a DevTools well-known
            # file), which are no fault of the console's.
            if (
                message.type == "error"
                and "status of 403" not in message.text
                and not message.text.startswith("Failed to load resource")
            ):
                self.problems.append(message.text)

        def watch_response(response: Any) -> None:
            # Name what failed to load, so a console error above can be traced to its URL.
            console_url = response.url.startswith(f"{receiver.url}/console/")
            if console_url and response.status >= 400 and response.status != 403:
                self.problems.append(f"{response.status} {response.request.method} {response.url}")

        self.page.on("console", watch)
        self.page.on("response", watch_response)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))

    def sign_in(self, role: str, name: str | None = None) -> None:
        self.page.goto(f"{self.receiver.url}/console/")
        assert self.page.url.endswith("/console/sign-in")
        self.page.get_by_label("Access token").fill(self.receiver.token(role, name))
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def go(self, path: str) -> None:
        self.page.goto(f"{self.receiver.url}{path}")

    def accessible(self) -> None:
        results = Axe().run(self.page, options=WCAG_22_AA)
        assert results.violations_count == 0, results.generate_report()

    def close(self) -> None:
        assert self.problems == [], self.problems  # no CSP violation, no script error
        self.context.close()


@pytest.fixture
def console(chromium: Browser, receiver: Receiver) -> Iterator[Any]:
    opened: list[Console] = []

    def open_console() -> Console:
        opened.append(Console(chromium, receiver))
        return opened[-1]

    yield open_console
    for tab in opened:
        tab.close()


@pytest.fixture
def strive(receiver: Receiver) -> dict[str, Any]:
    return submit_examples(receiver, [*OP_STRIVE, "suspected-under-18.json"])


def test_sign_in_queue_and_the_operation_strive_cluster_graph(
    receiver: Receiver, strive: dict[str, Any], console: Any
) -> None:
    tab = console()
    tab.sign_in("analyst")
    page = tab.page
    assert page.url.endswith("/console/queue")
    rows = page.locator("#queue tbody tr")
    order = [rows.nth(i).get_attribute("data-referral-id") for i in range(rows.count())]
    assert order[0] == strive["suspected-under-18.json"]["referral_id"]
    assert set(order[1:5]) == {strive[name]["referral_id"] for name in OP_STRIVE}
    assert "Suspected child" in rows.nth(0).inner_text()
    tab.accessible()
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "queue.png"), full_page=True)

    link = rows.nth(1).get_by_role("link", name=re.compile("referrals in cluster"))
    link.click()
    page.wait_for_url(re.compile(r"/console/clusters/\d+$"))
    page.wait_for_selector("#graph svg")
    assert page.locator("#headline").inner_text() == (
        "10 accounts, 8 e-mail addresses, 13 phone numbers, 4 payer names across London, "
        "the South East and the North East."
    )
    svg = page.locator("#graph svg")
    nodes = int(svg.get_attribute("data-nodes") or 0)
    assert nodes == 4 + 10 + 13 + 8 + 4 + 2  # referrals, accounts, phones, e-mails, payers, ASWs
    assert page.locator("#graph svg rect").count() == 4  # referrals are squares
    assert page.locator("#graph svg polygon").count() == 2  # ASWs are diamonds
    assert page.locator("#graph svg line").count() == int(svg.get_attribute("data-edges") or 0)
    colours = set(page.locator("#graph svg polygon").evaluate_all(
        "shapes => shapes.map(s => s.getAttribute('fill'))"
    ))  # fmt: skip
    assert len(colours) == 2  # one colour per ASW
    assert page.locator("#graph-legend").inner_text().count("example-adverts") == 1
    tab.accessible()
    if SCREENSHOTS:
        page.locator("#graph").screenshot(path=str(Path(SCREENSHOTS) / "cluster-graph.png"))

    # "Where else does this number appear?" without the number entering a URL.
    page.get_by_label("Kind").select_option("phone")
    page.get_by_label("Value").fill("07700 900101")
    page.get_by_role("button", name="Search").click()
    assert "+447700900101" in page.locator("#search-summary").inner_text()
    assert "900101" not in page.url
    tab.accessible()

    # Keyboard: the skip link is the first stop.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"


def test_a_referral_worked_to_an_outcome_in_the_browser_reaches_the_asw(
    receiver: Receiver, strive: dict[str, Any], console: Any
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    tab = console()
    tab.sign_in("supervisor")
    page = tab.page
    tab.go(f"/console/referrals/{rid}")
    assert "Bianca" in page.locator("#accounts").inner_text()
    assert "verified" in page.locator("#evidence").inner_text()
    tab.accessible()

    form = page.locator("#assign-form")
    form.get_by_label("Analyst").fill("analyst-7")
    form.get_by_label("Reason").fill("allocated")
    form.get_by_role("button", name="Assign").click()
    assert page.locator("#assigned").inner_text() == "analyst-7"
    for state in ("triaged", "under assessment", "package developed", "disseminated"):
        form = page.locator("#transition-form")
        form.get_by_label("New state").select_option(label=state)
        form.get_by_label("Reason").fill(f"now {state}")
        form.get_by_role("button", name="Move").click()
        assert page.locator("#state").inner_text().startswith(state)
    form = page.locator("#transition-form")
    form.get_by_label("New state").select_option("closed")
    form.get_by_label("Outcome (when closing)").select_option("safeguarding_visit")
    form.get_by_label("Reason").fill("visit made")
    form.get_by_role("button", name="Move").click()
    assert page.locator("#state").inner_text() == "closed, outcome safeguarding visit"

    form = page.locator("#feedback-form")
    form.get_by_label("Message").fill("A safeguarding visit was made. Thank you.")
    form.get_by_label("Outcome reported").select_option("safeguarding_visit")
    form.get_by_label("Release to the ASW").check()
    form.get_by_role("button", name="Add feedback").click()
    assert "visit made" in page.locator("#history").inner_text()
    assert "released to the ASW" in page.locator("#feedback").inner_text()
    tab.accessible()

    with receiver.client("example-adverts") as asw:
        status = asw.get_referral_status(rid)
    assert status.state == "closed" and status.outcome == "safeguarding_visit"
    assert status.feedback[-1].message == "A safeguarding visit was made. Thank you."


def test_refusals_csrf_and_sign_out_in_the_browser(
    receiver: Receiver, strive: dict[str, Any], console: Any
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    auditor = console()
    auditor.sign_in("auditor")
    page = auditor.page
    assert page.url.endswith("/console/audit")
    auditor.accessible()
    auditor.go(f"/console/referrals/{rid}")
    assert page.locator("h1").inner_text() == "You do not have access to this page"
    assert "Bianca" not in page.content()
    auditor.go("/console/stats")
    assert page.locator("svg.strive-chart").count() >= 1
    auditor.accessible()

    admin = console()
    admin.sign_in("admin")
    assert admin.page.url.endswith("/console/admin")
    assert "example-adverts" in admin.page.locator("#asws").inner_text()
    admin.accessible()
    admin.go("/console/queue")
    assert admin.page.locator("h1").inner_text() == "You do not have access to this page"

    analyst = console()
    analyst.sign_in("analyst")
    page = analyst.page
    analyst.go(f"/console/referrals/{rid}")
    # A form whose token is not this session's (as a forged page would send) is refused.
    page.locator("#transition-form input[name=csrf_token]").evaluate("i => i.value = 'forged'")
    form = page.locator("#transition-form")
    form.get_by_label("Reason").fill("triage")
    form.get_by_role("button", name="Move").click()
    assert page.locator("h1").inner_text() == "The form has expired"
    analyst.accessible()
    analyst.go(f"/console/referrals/{rid}")
    assert page.locator("#state").inner_text() == "received"

    page.get_by_role("button", name="Sign out").click()
    assert page.locator("h1").inner_text() == "You have signed out"
    analyst.go("/console/queue")
    assert page.url.endswith("/console/sign-in")
    analyst.accessible()


def test_two_admins_in_the_browser_one_asks_the_other_approves(
    receiver: Receiver, console: Any
) -> None:
    alice = console()
    alice.sign_in("admin")
    page = alice.page
    assert page.locator("#no-approval-requests").is_visible()
    form = page.locator("#token-form")
    form.get_by_label("Person").fill("DC Vale")
    form.get_by_label("Role").select_option("analyst")
    form.get_by_role("button", name="Create token").click()
    assert page.locator("h1").inner_text().endswith("waits for approval")
    assert page.locator("#new-token").count() == 0
    request_id = page.locator("#request-id").inner_text()
    alice.accessible()
    alice.go("/console/admin")
    row = page.locator(f"#approval-request-{request_id}")
    assert row.get_by_role("button", name=f"Approve request {request_id}").count() == 0
    alice.accessible()

    bob = console()
    bob.sign_in("admin", name="second-admin")
    page = bob.page
    row = page.locator(f"#approval-request-{request_id}")
    assert "Create a token for DC Vale, role analyst" in row.inner_text()
    bob.accessible()
    row.get_by_role("button", name=f"Approve request {request_id}").click()
    assert page.locator("h1").inner_text().startswith("Token ")
    assert "/approve" in page.url and page.locator("#new-token").count() == 0
    assert page.locator("#new-token-half").inner_text().strip().startswith("strvB_")
    bob.accessible()

    alice.go("/console/admin")
    page = alice.page
    row = page.locator(f"#token-half-{request_id}")
    row.get_by_role("button", name=f"Collect half A of request {request_id}").click()
    assert "/collect" in page.url
    assert page.locator("#new-token-half").inner_text().strip().startswith("strvA_")
    alice.accessible()
