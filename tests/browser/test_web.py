"""The web frontend in a real Chromium at 360 px: a citizen finds the residence document extension
by a query typed with Arabic letters, applies and uploads; a clerk and the head of office act
from their inboxes; the citizen downloads the permit and its verification page says it is valid.
Every page is right to left, has no horizontal scroll, logs no console error and has no serious
or critical axe-core violation; each is kept as a screenshot under the test's tmp dir."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

AXE = (Path(__file__).with_name("vendor") / "axe.min.js").read_text("utf-8")
PHONE = {"width": 360, "height": 740}
# Typed as many keyboards do: Arabic yeh (ي) and kaf (ك) for the Persian ی and ک.
ARABIC_LETTERS_QUERY = "تمديد مدارك اقامتي"


class Visits:
    """Checks every page a test shows and keeps its screenshot."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.console_errors: list[str] = []
        self.shots: list[Path] = []

    def watch(self, page) -> None:
        page.on("console", lambda m: self.console_errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"{page.url}: {e}"))

    def check(self, page, name: str, *, lang: str = "fa") -> None:
        page.wait_for_load_state("load")
        self.count += 1
        shot = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        self.shots.append(shot)
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "fa" else "ltr"), name
        assert page.get_attribute("html", "lang") == lang, name
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: {overflow}px of horizontal scroll at 360 px"
        page.add_script_tag(content=AXE)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{name}: {serious}"
        assert self.console_errors == [], self.console_errors


@pytest.fixture
def visits(tmp_path: Path) -> Visits:
    return Visits(tmp_path)


def sign_in_citizen(page, visits: Visits) -> None:
    visits.check(page, "signin")
    page.fill("#c-code", "۰۰۸۴۵۷۵۹۴۸")
    page.fill("#c-name", "زهرا کریمی")
    page.get_by_role("button", name=re.compile("شهروند")).click()


def staff_page(browser, base: str, visits: Visits, subject: str, role: str, name: str, office: str = "foreign-nationals"):
    context = browser.new_context(viewport=PHONE, base_url=base, locale="fa-IR")
    page = context.new_page()
    visits.watch(page)
    page.goto("/signin?next=/inbox")
    page.fill("#s-subject", subject)
    page.fill("#s-name", name)
    page.select_option("#s-office", office)
    page.fill("#s-roles", role)
    page.get_by_role("button", name=re.compile("کارمند")).click()
    page.wait_for_url(re.compile(r"/inbox"))
    return context, page


def act_from_inbox(page, visits: Visits, code: str, role: str, action_title: str, fill: dict[str, str] | None = None):
    page.goto(f"/inbox?role={role}")
    visits.check(page, f"inbox-{role}")
    row = page.locator("tr", has=page.locator(f"a:text-is('{code}')"))
    assert row.count() == 1
    assert row.locator(".sla").inner_text().strip()  # the SLA countdown is shown
    row.locator("a").first.click()
    page.wait_for_url(re.compile(re.escape(code)))
    visits.check(page, f"case-{role}")
    form = page.locator("form.action", has=page.get_by_role("button", name=action_title))
    for selector, value in (fill or {}).items():
        form.locator(selector).fill(value)
    form.get_by_role("button", name=action_title).click()
    page.wait_for_url(re.compile("notice=acted"))


def test_a_citizen_applies_staff_decide_and_the_permit_verifies(stack, browser, visits):
    base = stack.config.gateway_url
    citizen = browser.new_context(viewport=PHONE, base_url=base, locale="fa-IR", accept_downloads=True)
    page = citizen.new_page()
    visits.watch(page)

    # Find the service with a query typed in Arabic letters.
    page.goto("/")
    visits.check(page, "home")
    page.fill("#q", ARABIC_LETTERS_QUERY)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q="))
    visits.check(page, "search")
    first = page.locator(".cards .card h2 a").first
    assert "مدارک اقامتی اتباع خارجی" in first.inner_text()
    first.click()
    visits.check(page, "service")
    assert page.get_by_role("heading", name="قوانین و مقررات").is_visible()
    page.get_by_role("link", name="ثبت درخواست").click()

    # Applying needs signing in first; the form is built from the process schema.
    page.wait_for_url(re.compile(r"/signin"))
    sign_in_citizen(page, visits)
    page.wait_for_url(re.compile(r"/apply/"))
    visits.check(page, "apply")
    page.fill("#f-full_name", "محمد رضايي")
    page.fill("#f-father_name", "علی")
    page.fill("#f-nationality", "AFG")
    page.select_option("#f-document_type", label="کارت آمایش")
    page.fill("#f-document_number", "۱۲۳۴۵۶۷۸")
    page.fill("#f-document_expires_on", "۱۴۰۵/۰۹/۰۱")
    page.fill("#f-mobile", "۰۹۱۲۱۲۳۴۵۶۷")
    page.fill("#f-address", "قزوین، خیابان خیام")
    page.get_by_role("button", name="ثبت نهایی درخواست").click()
    page.wait_for_url(re.compile(r"/cases/FN-"))
    code = page.locator("h1 .code").inner_text().strip()
    visits.check(page, "case-submitted")
    assert "در انتظار کارشناس" in page.locator(".summary").inner_text()

    for kind, name, mime, content in (
        ("residence-document-scan", "مدرک.pdf", "application/pdf", b"%PDF-1.4 scan"),
        ("photo", "photo.png", "image/png", b"\x89PNG\r\n\x1a\n photo"),
    ):
        page.select_option("#kind", kind)
        page.set_input_files("#file", files=[{"name": name, "mimeType": mime, "buffer": content}])
        page.get_by_role("button", name="بارگذاری", exact=True).click()
        page.wait_for_url(re.compile("notice=uploaded"))
    visits.check(page, "case-uploaded")
    assert page.locator("#s-docs + ul li a").count() == 2

    # Tracking: the check digit is checked as the code is typed.
    page.goto("/track")
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    page.type("#code", wrong)
    assert "اشتباه" in page.locator("#code-check").inner_text()
    page.fill("#code", code.replace("1", "۱"))
    page.locator("#code").dispatch_event("input")
    assert "درست" in page.locator("#code-check").inner_text()
    visits.check(page, "track")
    page.get_by_role("button", name="نمایش").click()
    page.wait_for_url(re.compile(re.escape(code)))

    # The clerk starts the review, the head of office approves, the clerk delivers.
    clerk_context, clerk = staff_page(browser, base, visits, "clerk-web", "clerk", "سارا احمدی")
    act_from_inbox(clerk, visits, code, "clerk", "شروع بررسی")
    head_context, head = staff_page(browser, base, visits, "head-web", "head-of-office", "رئیس اداره")
    act_from_inbox(head, visits, code, "head-of-office", "موافقت با تمدید", {"input[name=extended_until]": "۱۴۰۶/۰۹/۰۱"})
    act_from_inbox(clerk, visits, code, "clerk", "تحویل مدرک")
    visits.check(clerk, "case-delivered")

    # The supervisor's figures page (GET /v1/stats/cases): their office only, the case just
    # granted among the finished ones.
    supervisor_context, supervisor = staff_page(browser, base, visits, "sup-web", "supervisor", "ناظر")
    supervisor.goto("/office")
    visits.check(supervisor, "office")
    offices = supervisor.locator("section.office")
    assert [offices.nth(i).get_attribute("data-office") for i in range(offices.count())] == ["foreign-nationals"]
    row = supervisor.locator("tr[data-process=residence-document-extension]")
    assert row.locator(".outcomes [data-outcome]").count() >= 1
    assert "٪" in row.locator(".compliance").inner_text()
    supervisor.fill("#p-from", "۱۴۰۰/۰۱/۰۱")
    supervisor.locator("form.period button").click()
    supervisor.wait_for_url(re.compile(r"/office\?from="))
    visits.check(supervisor, "office-period")
    assert supervisor.locator("tr[data-process=residence-document-extension]").count() == 1
    # The performance and inspection office sees every office's figures.
    inspector_context, inspector = staff_page(
        browser, base, visits, "inspector-web", "supervisor", "بازرس", office="performance-inspection-legal-pr"
    )
    inspector.goto("/office")
    visits.check(inspector, "office-inspection")
    assert inspector.locator("section.office[data-office=foreign-nationals]").count() == 1
    inspector_context.close()

    # The citizen downloads the permit and its verification page says it is valid.
    page.goto(f"/cases/{code}")
    visits.check(page, "case-granted")
    with page.expect_download() as download:
        page.get_by_role("link", name="دریافت سند (PDF)").click()
    text = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages[0].extract_text()
    assert code in text and "مجوز تمدید مدرک اقامتی اتباع خارجی" in text
    page.get_by_role("link", name="صفحه استعلام اصالت").click()
    page.wait_for_url(re.compile(f"/v1/verify/{re.escape(code)}"))
    visits.check(page, "verify")
    assert page.locator(".verdict").get_attribute("data-state") == "valid"
    assert "اصیل و معتبر" in page.locator(".verdict").inner_text()

    # English, left to right.
    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"/v1/verify/"))
    visits.check(page, "verify-en", lang="en")
    assert "authentic and valid" in page.locator(".verdict").inner_text()

    for context in (citizen, clerk_context, head_context, supervisor_context):
        context.close()
    assert len(visits.shots) >= 12
