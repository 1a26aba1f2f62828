"""The settings page in a real browser against a real server, on SQLite and PostgreSQL: it shows
who you are and your projects; a token made there is shown once, works against the API and stops
working when revoked there; a project made there gets members whose roles change from the page;
an experiment deleted from its page is listed under the deleted ones, restored, deleted again and
purged; the audit log records all of it; a session without the admin scope sees short
explanations instead of the sections it may not use. Screenshots go to
test-output/dashboard/<engine>/settings*.png."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from .conftest import new_context, open_view, shot, watch

POINT = {"model": {"kind": "point"}, "optimizer": {"name": "sgd", "lr": 0.1},
         "training": {"steps": 5}}


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def accept_dialogs(page: Page) -> list[str]:
    """Accept every confirm() of the page; the messages asked, in order."""
    asked: list[str] = []

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    return asked


def members(dashboard, project: str) -> dict[str, str]:
    response = dashboard.server.api.get(f"/api/v1/projects/{project}/members")
    assert response.status_code == 200, response.text
    return {m["user"]: m["role"] for m in response.json()}


def audit_row(page: Page, action: str, target: str):
    return page.locator(f'#audit-table tbody tr[data-action="{action}"][data-target="{target}"]')


def test_settings_shows_you_and_your_projects(page, dashboard):
    me = dashboard.server.api.get("/api/v1/me").json()
    open_view(page, "/")
    page.click("#nav-settings")
    page.wait_for_url("**/settings")
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(page.locator("#me-name")).to_have_text(me["name"])
    expect(page.locator("#me-superuser")).to_be_visible()  # the module's user is a superuser
    # a browser session has the token's read, write and admin scopes (never worker)
    expect(page.locator("#me-scopes")).to_have_text("admin, read, write")
    project = page.locator('#projects-table tr[data-project="default"]')
    expect(project).to_contain_text("admin")
    expect(page.locator('.project-block[data-project="default"]')).to_be_visible()
    # the module's own session was opened, and its experiments created, with the audit log on
    expect(page.locator('#audit-table tr[data-action="experiment.create"]')).not_to_have_count(0)
    for section in ("you", "tokens", "projects", "deleted", "audit"):
        expect(page.locator(f"#{section} > .denied")).to_be_hidden()
        expect(page.locator(f"#{section} > .error")).to_have_text("")
    shot(page, dashboard, "settings")


def test_token_is_shown_once_works_and_is_revoked(page, dashboard, console):
    console.allow(r"status of 422")  # the form sent without a scope, on purpose
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.url)
    asked = accept_dialogs(page)
    open_view(page, "/settings")
    name = unique("page token")

    # no scope ticked: the API's rule appears next to the scopes
    page.fill("#token-name", name)
    page.uncheck('#token-scopes input[value="read"]')
    page.click("#create-token")
    expect(page.locator('#token-form .field-error[data-for="scopes"]')).not_to_have_text("")
    expect(page.locator("#token-secret")).to_be_hidden()

    page.check('#token-scopes input[value="read"]')
    page.click("#create-token")
    secret_box = page.locator("#token-secret")
    expect(secret_box).to_be_visible()
    expect(secret_box).to_contain_text("will not be shown again")
    expect(page.locator('#token-form .field-error[data-for="scopes"]')).to_have_text("")
    secret = page.locator("#token-secret-value").inner_text()
    assert secret.startswith("otk_"), secret
    row = page.locator("#tokens-table tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(2)).to_have_text("read")
    expect(row.locator("td").nth(3)).to_have_text("all")
    prefix = row.get_attribute("data-prefix")
    assert secret.startswith(prefix), (secret, prefix)
    page.click("#copy-token")
    expect(page.locator("#copy-status")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, dashboard, "settings-token")

    bearer = {"authorization": f"Bearer {secret}"}
    response = httpx.get(f"{dashboard.url}/api/v1/me", headers=bearer, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == ["read"]

    row.locator("button.revoke-token").click()
    expect(row).to_contain_text("revoked")
    expect(row.locator("button.revoke-token")).to_have_count(0)
    assert asked and prefix in asked[-1]
    response = httpx.get(f"{dashboard.url}/api/v1/me", headers=bearer, timeout=30)
    assert response.status_code == 401, response.text
    expect(audit_row(page, "token.create", prefix)).to_have_count(1)
    expect(audit_row(page, "token.revoke", prefix)).to_have_count(1)

    # shown once: a new load of the page has the token's row, never its secret
    open_view(page, "/settings")
    expect(page.locator("#tokens-table tbody tr", has_text=name)).to_contain_text("revoked")
    expect(page.locator("#token-secret")).to_be_hidden()
    assert secret not in page.content()


def test_project_members_are_managed_from_the_page(page, dashboard):
    user, project = unique("bob"), unique("team")
    response = dashboard.server.api.post("/api/v1/users", json={"name": user})
    assert response.status_code == 201, response.text
    me = dashboard.server.api.get("/api/v1/me").json()["name"]
    accept_dialogs(page)
    open_view(page, "/settings")

    page.fill("#project-name", project)
    page.click("#create-project")
    block = page.locator(f'.project-block[data-project="{project}"]')
    expect(block.locator("tbody tr")).to_have_count(1)  # its creator, as its admin
    expect(block.locator(f'tr[data-user="{me}"] select.member-role')).to_have_value("admin")
    expect(page.locator(f'#me-projects tr[data-project="{project}"]')).to_contain_text("admin")

    block.locator("input.member-user").fill(user)
    block.locator("select.member-new-role").select_option("viewer")
    block.locator("button.add-member-button").click()
    # the block is drawn anew after each change: find it again each time
    member = page.locator(f'.project-block[data-project="{project}"] tr[data-user="{user}"]')
    expect(member.locator("select.member-role")).to_have_value("viewer")
    assert members(dashboard, project) == {me: "admin", user: "viewer"}

    with page.expect_response(lambda r: r.request.method == "PUT" and user in r.url) as answer:
        member.locator("select.member-role").select_option("member")
    assert answer.value.status == 200
    expect(member.locator("select.member-role")).to_have_value("member")
    assert members(dashboard, project)[user] == "member"
    grants = page.locator(f'#audit-table tr[data-action="member.grant"][data-target="{user}"]')
    expect(grants).to_have_count(2)
    expect(grants.first).to_contain_text('"role":"member"')
    shot(page, dashboard, "settings-members")

    with page.expect_response(lambda r: r.request.method == "DELETE" and user in r.url) as answer:
        member.locator("button.remove-member").click()
    assert answer.value.status == 204
    expect(member).to_have_count(0)
    assert members(dashboard, project) == {me: "admin"}
    expect(audit_row(page, "member.revoke", user)).to_have_count(1)


def test_experiment_deleted_restored_and_purged(page, dashboard):
    name = unique("to delete")
    run_ids = dashboard.server.submit({"name": name, **POINT})
    ended = dashboard.server.wait_ended(run_ids, timeout=60)
    eid = ended[run_ids[0]]["experiment_id"]
    asked = accept_dialogs(page)
    deleted_row = page.locator(f'#deleted-table tr[data-experiment-id="{eid}"]')

    def delete_from_its_page():
        open_view(page, f"/experiments/{eid}")
        page.click("#delete-experiment")
        page.wait_for_url("**/settings#deleted")
        page.wait_for_selector("body[data-ready]", state="attached")
        expect(deleted_row).to_contain_text(name)
        assert name in asked[-1]

    delete_from_its_page()
    expect(deleted_row).to_contain_text("default")
    listed = dashboard.server.api.get("/api/v1/experiments", params={"q": name}).json()
    assert listed["experiments"] == []
    shot(page, dashboard, "settings-deleted")

    deleted_row.locator("button.restore").click()
    expect(deleted_row).to_have_count(0)
    expect(audit_row(page, "experiment.restore", eid)).to_have_count(1)
    open_view(page, "/")
    expect(page.locator(f'#experiments-table tr[data-experiment-id="{eid}"]')).to_contain_text(name)

    delete_from_its_page()
    deleted_row.locator("button.purge").click()
    expect(deleted_row).to_have_count(0)
    assert "cannot be undone" in asked[-1]
    assert dashboard.server.api.get(f"/api/v1/experiments/{eid}").status_code == 404
    deleted = dashboard.server.api.get("/api/v1/experiments", params={"deleted": "true"}).json()
    assert eid not in {e["id"] for e in deleted["experiments"]}

    expect(audit_row(page, "experiment.delete", eid)).to_have_count(2)
    expect(audit_row(page, "experiment.purge", eid)).to_have_count(1)
    expect(audit_row(page, "experiment.purge", eid)).to_contain_text(name)

    # the action filter asks the API for one action only; it is kept in the URL
    page.fill("#audit-action", "experiment.purge")
    page.press("#audit-action", "Enter")
    expect(page.locator("#audit-table tbody tr:not([data-action='experiment.purge'])")).to_have_count(0)
    expect(audit_row(page, "experiment.purge", eid)).to_have_count(1)
    assert "action=experiment.purge" in page.url


def audit_total(dashboard) -> int:
    """How many audit entries the module's superuser sees."""
    response = dashboard.server.api.get("/api/v1/audit", params={"limit": 1000})
    assert response.status_code == 200 and response.json()["next_page_token"] is None
    return len(response.json()["entries"])


def test_audit_log_pages_with_load_more(page, dashboard):
    """The page shows 50 entries, newest first; "Load more" appends the next ones."""
    for _ in range(max(1, 60 - audit_total(dashboard))):  # more than one page of 50
        response = dashboard.server.api.post("/api/v1/users", json={"name": unique("filler")})
        assert response.status_code == 201, response.text
    total = audit_total(dashboard)
    open_view(page, "/settings")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-action", "user.create")  # the newest
    expect(page.locator("#audit-more")).to_be_visible()
    page.click("#audit-more")
    expect(rows).to_have_count(min(total, 100))
    if total > 100:
        expect(page.locator("#audit-more")).to_be_visible()
    else:
        expect(page.locator("#audit-more")).to_be_hidden()


def test_sections_without_the_admin_scope_explain_themselves(browser, dashboard, console):
    """A session opened with a read+write token: the token and audit sections say what they
    need instead of failing, member controls are disabled, and the experiment page offers no
    deletion (the API would refuse it)."""
    console.allow(r"status of 403")
    response = dashboard.server.api.post("/api/v1/tokens", json={
        "name": unique("no admin"), "scopes": ["read", "write"]})
    assert response.status_code == 201, response.text
    context = new_context(browser, dashboard)
    try:
        signed_in = context.request.post("/login", form={"token": response.json()["token"],
                                                         "next": "/"}, max_redirects=0)
        assert signed_in.status == 303, signed_in.text()[:300]
        page = watch(context.new_page(), console)
        open_view(page, "/settings")
        expect(page.locator("#me-scopes")).to_have_text("read, write")
        for section in ("tokens", "audit"):
            expect(page.locator(f"#{section} > .denied")).to_be_visible()
            expect(page.locator(f"#{section} > .denied")).to_contain_text("admin scope")
            expect(page.locator(f"#{section} > .section-body")).to_be_hidden()
            expect(page.locator(f"#{section} > .error")).to_have_text("")
        block = page.locator('.project-block[data-project="default"]')
        expect(block.locator("button.add-member-button")).to_be_disabled()
        expect(block).to_contain_text("admin scope")
        shot(page, dashboard, "settings-no-admin-scope")

        open_view(page, f"/experiments/{next(iter(dashboard.experiments.values()))}")
        expect(page.locator("#delete-experiment")).to_be_hidden()
    finally:
        context.close()
    assert not console.unexpected(), console.unexpected()
