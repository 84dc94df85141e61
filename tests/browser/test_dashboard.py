"""The navigator dashboard end to end: headless Chromium against a running `carepath up`.

Each view is saved as a screenshot under artifacts/screenshots for a person to look at.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, screenshot

expect.set_options(timeout=20_000)  # the page polls every 5 s


def sign_in(page: Page, server: Server, role: str = "navigator") -> None:
    page.goto(f"{server.base}/")
    page.fill("input[name=token]", server.tokens[role])
    page.click("button[type=submit]")
    expect(page.locator("#who-role")).to_have_text(role)


def row(page: Page, name: str) -> object:
    return page.locator("tr[data-enrollment]", has_text=name)


def open_patient(page: Page, server: Server, name: str) -> None:
    sign_in(page, server)
    page.locator("tr[data-enrollment]", has_text=name).click()
    expect(page.get_by_test_id("patient-name")).to_have_text(name)


def steps_done(page: Page) -> int:
    text = page.locator(".fact", has_text="Steps done").locator("b").inner_text()
    return int(text.split(" of ")[0])


def test_sign_in_refuses_a_bad_token_then_lists_every_enrollment(
    page: Page, server: Server
) -> None:
    page.goto(f"{server.base}/")
    expect(page.locator(".topbar")).to_be_hidden()
    page.fill("input[name=token]", "not-a-real-token")
    page.click("button[type=submit]")
    expect(page.locator(".signin .error")).to_contain_text("not valid")
    screenshot(page, "01-sign-in")
    sign_in(page, server)
    expect(page.locator("tr[data-enrollment]")).to_have_count(6)
    expect(page.locator("[data-stat=overdue] b")).not_to_have_text("0")
    # the stored summary's figures: days to first treatment and the on-time rate
    expect(page.locator("[data-stat=first-treatment] b")).to_have_text(re.compile(r"^\d+\.\d d$"))
    # (the demo completed its tasks 900 days ago, outside the 90-day window: no rate yet)
    expect(page.locator("[data-stat=on-time] b")).to_have_text("—")
    expect(row(page, "Drew Demo").locator(".progress small")).to_have_text(
        re.compile(r"^(\d+)/\1$")
    )
    screenshot(page, "02-patients")


def test_filters_and_search_narrow_the_list(page: Page, server: Server) -> None:
    sign_in(page, server)
    expect(page.locator("tr[data-enrollment]")).to_have_count(6)
    overdue = server.api("GET", "/enrollments", params={"flag": "overdue"}).json()["items"]
    page.click("[data-flag-filter=overdue]")
    expect(page.locator("tr[data-enrollment]")).to_have_count(len(overdue))
    expect(page.locator("tr[data-enrollment] [data-flag=overdue]")).to_have_count(len(overdue))
    screenshot(page, "03-patients-overdue")
    page.click("[data-flag-filter='']")
    page.fill("input[name=search]", "drew")
    expect(page.locator("tr[data-enrollment]")).to_have_count(1)
    expect(page.locator("tr[data-enrollment]")).to_contain_text("Drew Demo")
    page.fill("input[name=search]", "")
    page.select_option("select[name=pathway]", "chemotherapy")
    expect(page.locator("tr[data-enrollment]")).to_have_count(1)
    expect(page.locator("tr[data-enrollment]")).to_contain_text("Avery Demo")
    page.select_option("select[name=pathway]", "")
    page.select_option("select[name=status]", "completed")
    expect(page.locator("tr[data-enrollment]")).to_have_count(1)
    expect(page.locator("tr[data-enrollment]")).to_contain_text("Drew Demo")


def test_completing_a_task_from_its_form_moves_the_progress(page: Page, server: Server) -> None:
    open_patient(page, server, "Avery Demo")
    gantt = page.get_by_test_id("gantt")
    expect(gantt.locator(".gantt-bar.current")).not_to_have_count(0)  # the baseline work-up
    expect(gantt.locator(".gantt-bar.planned")).not_to_have_count(0)  # six cycles to come
    expect(gantt.locator(".gantt-bar.done")).to_have_count(0)
    expect(page.get_by_test_id("history")).to_contain_text("Enrolled")
    screenshot(page, "04-patient")
    before = steps_done(page)
    labs = page.locator("article.task", has_text="Baseline labs")
    labs.get_by_role("button", name="Complete…").click()
    form = labs.locator("form")
    expect(form.locator("[data-field]")).to_have_count(2)  # anc and platelets, from `record`
    form.locator("[data-field=anc]").fill("2100")
    form.locator("[data-field=platelets]").fill("180000")
    screenshot(page, "05-task-form")
    form.get_by_role("button", name="Mark complete").click()
    expect(page.locator("#banner")).to_contain_text("“Baseline labs (CBC")
    expect(page.locator("#banner")).to_contain_text("done")
    expect(page.locator(".fact", has_text="Steps done").locator("b")).to_have_text(
        re.compile(rf"^{before + 1} of ")
    )
    expect(
        page.get_by_test_id("history").locator("[data-event-type=task_completed]")
    ).to_contain_text("Anc: 2100")
    expect(gantt.locator(".gantt-bar.done")).to_have_count(1)
    screenshot(page, "06-patient-after-task")
    page.click("text=← Patients")
    expect(row(page, "Avery Demo").locator(".progress small")).to_have_text(
        re.compile(rf"^{before + 1}/")
    )


def test_a_navigator_holds_and_resumes_a_pathway(page: Page, server: Server) -> None:
    open_patient(page, server, "Emery Demo")
    page.click("[data-action=hold]")
    page.fill("dialog textarea", "Admitted with a chest infection")
    screenshot(page, "07-hold-dialog", full_page=False)  # a modal covers the viewport
    page.click("dialog button[type=submit]")
    expect(page.locator(".patient-head [data-flag]")).to_have_text("On hold")
    expect(page.locator("[data-action=resume]")).to_be_visible()
    expect(page.locator("[data-action=hold]")).to_have_count(0)
    screenshot(page, "08-patient-on-hold")
    page.click("[data-action=resume]")
    page.fill("dialog textarea", "Discharged, fit to continue")
    page.click("dialog button[type=submit]")
    expect(page.locator("[data-action=hold]")).to_be_visible()
    expect(page.locator(".patient-head [data-flag]")).not_to_have_text("On hold")
    history = page.get_by_test_id("history")
    expect(history.locator("[data-event-type=hold][data-outcome=applied]")).to_have_count(1)
    expect(history.locator("[data-event-type=resume][data-outcome=applied]")).to_have_count(1)


def test_the_list_refreshes_by_polling_with_etags_without_reloading(
    page: Page, server: Server
) -> None:
    answers: list[int] = []
    page.on(
        "response",
        lambda response: (
            answers.append(response.status)
            if response.url.split("?")[0].endswith("/enrollments")
            else None
        ),
    )
    sign_in(page, server)
    frankie = row(page, "Frankie Demo")
    expect(frankie).to_be_visible()
    page.evaluate("window.notReloaded = true")
    unchanged = lambda response: "/enrollments?" in response.url and response.status == 304  # noqa: E731
    with page.expect_response(unchanged, timeout=15_000):
        pass  # an unchanged list was polled and answered 304, with no body
    enrollment_id = frankie.get_attribute("data-enrollment")
    reason = {"reason": "Patient travelling", "idempotency_key": "e2e-poll-hold"}
    assert server.api("POST", f"/enrollments/{enrollment_id}/hold", json=reason).status_code == 202
    expect(frankie.locator("[data-flag]")).to_have_text("On hold")
    assert page.evaluate("window.notReloaded") is True
    assert 304 in answers and 200 in answers  # unchanged polls were answered without a body
    resumed = {"reason": "Back home", "idempotency_key": "e2e-poll-resume"}
    assert (
        server.api("POST", f"/enrollments/{enrollment_id}/resume", json=resumed).status_code == 202
    )
    expect(frankie.locator("[data-flag]")).not_to_have_text("On hold")


def test_staff_work_their_own_roles_queue(page: Page, server: Server) -> None:
    sign_in(page, server, "lab")
    page.click("[data-nav=queue]")
    expect(page.locator("select[name=role]")).to_be_disabled()
    tasks = page.get_by_test_id("queue").locator("article.task")
    expect(tasks).not_to_have_count(0)
    for meta in tasks.locator(".meta").all_inner_texts():
        assert meta.startswith("Lab ·"), meta
    for card in tasks.all():  # work is offered on ready tasks only, never on paused ones
        offered = card.get_by_role("button", name="Complete…").count()
        assert offered == (1 if card.locator(".chip", has_text="Ready").count() else 0)
    screenshot(page, "09-lab-queue")
    page.click("[data-nav=patients]")
    expect(page.locator("tr[data-enrollment]")).to_have_count(6)
    # staff see the names of the patients they have open work for, and only theirs
    named = page.locator("tr[data-enrollment]", has_text=" Demo")
    expect(named).not_to_have_count(0)
    assert named.count() < 6
    name = named.first.locator("td").first.inner_text().splitlines()[0]
    named.first.click()
    expect(page.get_by_test_id("patient-name")).to_have_text(name)
    expect(page.locator("[data-action]")).to_have_count(0)  # holds are for navigators


def test_a_navigator_chooses_a_roles_queue_overdue_first(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.click("[data-nav=queue]")
    expect(page.locator("select[name=role] option")).not_to_have_count(0)
    expect(page.get_by_test_id("queue").locator("article.task").first).to_be_visible()
    dues = (
        page.get_by_test_id("queue")
        .locator("article.task")
        .evaluate_all("cards => cards.map(c => c.classList.contains('overdue'))")
    )
    assert dues == sorted(dues, reverse=True), "overdue tasks come first"
    screenshot(page, "10-navigator-queue")


def test_the_read_only_dashboard_role_sees_no_patients_and_no_actions(
    page: Page, server: Server
) -> None:
    sign_in(page, server, "dashboard")
    expect(page.locator("tr[data-enrollment]")).to_have_count(6)
    expect(page.locator("[data-nav=queue]")).to_be_hidden()
    expect(page.get_by_test_id("enrollments")).not_to_contain_text("Demo")  # no names, no MRNs
    page.locator("tr[data-enrollment]").first.click()  # soonest due: an overdue patient
    expect(page.locator(".patient-head [data-flag]")).to_have_text("Overdue")
    expect(page.get_by_test_id("gantt").locator(".gantt-bar.late")).to_have_count(1)
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.get_by_role("button", name="Complete…")).to_have_count(0)
    screenshot(page, "11-dashboard-role-patient")


def test_the_library_draws_each_pathway_and_the_board_agenda_is_shown(
    page: Page, server: Server
) -> None:
    sign_in(page, server)
    page.click("[data-nav=pathways]")
    published = server.api("GET", "/pathways").json()
    expect(page.locator("[data-pathway]")).to_have_count(len(published))
    screenshot(page, "12-library")
    page.click("[data-pathway=chemotherapy]")
    expect(page.get_by_test_id("diagram").locator("[data-rendered] svg")).to_be_visible()
    expect(page.get_by_test_id("diagram")).to_contain_text("counts_check")
    screenshot(page, "13-pathway-diagram")
    # Emery's case preparation done (through the API): the case waits for the next board.
    emery = next(
        item for item in server.api("GET", "/enrollments", params={"text": "Emery"}).json()["items"]
    )
    for task in server.api("GET", "/tasks", params={"enrollment": emery["id"]}).json()["items"]:
        done = server.api("POST", f"/tasks/{task['id']}/complete", json={"data": {}})
        assert done.status_code == 202, done.text
    page.click("[data-nav=board]")
    expect(page.get_by_test_id("agenda").locator("tr[data-enrollment]")).to_contain_text(
        "Emery Demo"
    )
    expect(page.locator(".page-head")).to_contain_text("1 case on the agenda")
    screenshot(page, "14-tumour-board")
