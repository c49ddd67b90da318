"""The political definitions that name authorities ask them over the bus, end to end: the
organisation permit (the four authorities), the party licence (the founders' vetting by the three
authorities, then the Article 10 commission), the Majlis candidates' vetting (the four
authorities) and the council candidates' background check. Each case is driven through the
gateway to the step that asks; the requests go out on the service's stream, one per agency, and
the agency simulator's signed answers are recorded on the case, so the step that waits for them
moves on."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import act, attach, bearer, count_rows, wait_for
from tests.e2e.test_inquiries import inquiry_requests

pytestmark = [pytest.mark.e2e]

SERVICE = "political"
OFFICE = "political-elections-divisions"
FOUR = ["civil-registration", "intelligence", "judiciary", "police"]
# Valid national codes (check digit included) the simulator answers positively about.
CODES = ["0012345679", "0012345687", "0012345695", "0012345709", "0012345717", "0012345725", "0012345733"]
APPLICANT = bearer("citizen")  # national code 0084575948
CANDIDATE = bearer("citizen", subject=CODES[0], name="داوطلب")


def staff(role: str) -> dict[str, str]:
    return bearer(subject=f"{role}-1", office=OFFICE, roles=[role])


CLERK, GOVERNOR, BOARD = staff("clerk"), staff("governor"), staff("executive-board")


def begin(client: httpx.Client, process: str, data: dict, headers: dict, key: str) -> dict:
    started = client.post(
        "/v1/cases", json={"service": SERVICE, "process": process, "data": data},
        headers={"Idempotency-Key": key, **headers},
    )
    assert started.status_code == 201, started.text
    return started.json()






def current(client: httpx.Client, case: dict) -> dict:
    answer = client.get(f"/v1/cases/{case['code']}", headers=CLERK)
    assert answer.status_code == 200, answer.text
    return answer.json()


def asked_and_answered(stack, client: httpx.Client, case: dict, inquiry: str, agencies: list[str], total: int) -> None:
    """The case sent ``inquiry`` to each of ``agencies`` on the bus, and (``total`` answers on the
    case so far) the simulator's answers are in its history, each kept with its signature."""
    def replies() -> list[dict] | None:
        history = client.get(f"/v1/cases/{case['code']}/history", headers=CLERK).json()["items"]
        found = [entry for entry in history if entry["event"] == "inquiry-answered"]
        return found if len(found) >= total else None

    found = wait_for(replies, timeout=30, interval=0.3)
    assert [entry["comment"] for entry in found] == ["positive"] * total
    # The answers came back, so the requests had gone out (from the outbox, after the transition).
    requests = [request for request in inquiry_requests(stack, case["code"], SERVICE) if request.inquiry == inquiry]
    assert sorted(request.agency for request in requests) == agencies
    assert all(request.reply_subject == f"ostan.inquiry-answers.political.{request.agency}" for request in requests)
    ids = ", ".join(f"'{request.request_id}'" for request in requests)
    assert count_rows(
        stack, SERVICE, "case_inquiries",
        f"WHERE request_id IN ({ids}) AND verdict = 'positive' AND signature LIKE 'ey%.%.%' AND NOT late",
    ) == len(agencies)


def test_the_organisation_permit_asks_the_four_authorities_about_its_founders(stack, client):
    form = {
        "full_name": "علی احمدی", "national_code": "0084575948", "mobile": "09121234567",
        "organisation_name": "انجمن صنفی نمونه", "goals": "صنفی، غیرسیاسی و غیرانتفاعی",
        "founder_national_codes": CODES, "board_national_codes": CODES[:3], "signed_copies": 9,
    }
    case = begin(client, "organisation-permit", form, APPLICANT, "e2e-organisation-permit")
    case = attach(client, case, APPLICANT, "statute", "signed-application", "founders-details")
    case = act(client, case, "send-inquiries", CLERK)
    assert case["state"] == "vetting"
    asked_and_answered(stack, client, case, "four-authorities-founders-vetting", FOUR, 4)
    case = act(client, current(client, case), "refer-to-governor", CLERK, vetting_summary="پاسخ مراجع مثبت")
    assert case["state"] == "governor-review"


def test_the_party_licence_vets_its_founders_then_goes_to_the_article_10_commission(stack, client):
    form = {
        "full_name": "حسن رضایی", "national_code": "0084575948", "mobile": "09121234567",
        "party_name": "حزب نمونه", "portal_reference": "MOI-1405-778", "founder_national_codes": CODES[:5],
        "address": "قزوین، خیابان پیروزی",
    }
    case = begin(client, "party-licence", form, APPLICANT, "e2e-party-licence")
    case = attach(client, case, CLERK, "moi-forms", "moi-five-items")
    case = act(client, case, "receive-documents", CLERK)
    case = act(client, case, "send-inquiries", CLERK)
    asked_and_answered(stack, client, case, "three-authorities-founders-vetting", ["intelligence", "judiciary", "police"], 3)
    case = act(client, current(client, case), "refer-to-commission", CLERK, vetting_summary="پاسخ مراجع سه‌گانه")
    assert case["state"] == "commission-review"
    asked_and_answered(stack, client, case, "moi-article-10-parties-commission", ["moi"], 4)


def test_a_majlis_candidate_is_vetted_by_the_four_authorities(stack, client):
    form = {
        "full_name": "رضا موسوی", "national_code": CODES[0], "mobile": "09121234567",
        "election": "NATIONAL_ELECTION_MAJLIS", "electoral_district": "قزوین، آبیک و البرز",
        "education": "کارشناسی ارشد", "must_resign": False,
    }
    case = begin(client, "majlis-candidate-registration", form, CLERK, "e2e-majlis-candidate")
    case = attach(client, case, CLERK, "questionnaire", "birth-certificate", "national-card", "education-certificate")
    case = act(client, case, "enter-in-system", CLERK)
    case = act(client, case, "confirm-printout", CANDIDATE)
    case = act(client, case, "issue-receipt", CLERK, receipt_number="R-e2e-1")
    case = act(client, case, "send-to-four-authorities", CLERK)
    asked_and_answered(stack, client, case, "four-authorities-candidate-vetting", FOUR, 4)
    (request, *_) = inquiry_requests(stack, case["code"], SERVICE)
    assert list(request.subjects) == [CODES[0]]  # the candidate is whom they are asked about
    case = act(client, current(client, case), "refer-to-executive-board", CLERK, vetting_summary="بدون سابقه")
    assert case["state"] == "executive-board-review"


def test_a_council_candidates_background_is_checked_with_the_authorities(stack, client):
    form = {
        "full_name": "زهرا محمدی", "national_code": CODES[0], "mobile": "09121234567",
        "election": "COUNCIL_ELECTION_VILLAGE", "electoral_district": "بخش رامند",
        "no_criminal_record_number": "۱۴۰۵-۵۵۵",
    }
    case = begin(client, "council-candidate-registration", form, CLERK, "e2e-council-candidate")
    case = attach(client, case, CLERK, "no-criminal-record-certificate", "questionnaire")
    case = act(client, case, "enter-in-system", CLERK)
    case = act(client, case, "confirm-printout", CANDIDATE)
    case = act(client, case, "issue-receipt", CLERK, receipt_number="R-e2e-2")
    case = act(client, case, "refer-for-background-check", BOARD)
    assert case["state"] == "background-check"
    asked_and_answered(stack, client, case, "legal-authorities-background-check", FOUR, 4)
    case = act(client, current(client, case), "record-background-results", CLERK, results="بدون سابقه")
    assert case["state"] == "executive-board-review"
