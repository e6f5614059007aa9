"""The admin console in headless Chromium (Debian's, driven by Playwright) on a real uvicorn.

One browser and one server serve the whole module; each test gets a fresh browser context
(its own cookies). Screenshots go to ``$MDB_ENGINE_TEST_ARTIFACTS/screenshots`` (default
``.artifacts/screenshots`` in the repository, git-ignored).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Dialog, Page, expect
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from tests.auth.conftest import SECRET
from tests.browser import launch_chromium, save_screenshot
from tests.host.admin.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    XSS,
    admin_host,
    cheap_argon2,
    populate,
)
from tests.routing.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def screenshot(page: Page, name: str) -> Path:
    return await save_screenshot(page, f"admin_{name}")


@dataclass(frozen=True)
class Site:
    url: str  # the console's URL, ending in /admin
    engine: MongoDBEngine
    database: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as launched:
        yield launched


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(mongodb_uri: str) -> AsyncIterator[Site]:
    database = f"mdbtest_admin_{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as patch, cheap_argon2():
        patch.setenv("MDB_ENGINE_SECRET_KEY", SECRET)
        engine = MongoDBEngine(mongodb_uri, database)
        await engine.initialize()
        await populate(engine)
        port = free_port()
        config = uvicorn.Config(
            admin_host(engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        try:
            yield Site(f"http://127.0.0.1:{port}/admin", engine, database)
        finally:
            server.should_exit = True
            await task
            await engine.shutdown()
            client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri)
            await client.drop_database(database)
            await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    dialogs: list[str] = []

    async def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    opened.on("dialog", refuse)
    yield opened
    await context.close()
    assert dialogs == [], "a script ran in the console"


async def log_in(page: Page, site: Site, password: str = ADMIN_PASSWORD) -> None:
    await page.goto(site.url + "/")
    await expect(page).to_have_url(site.url + "/login")
    await page.get_by_label("Email").fill(ADMIN_EMAIL)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def test_a_wrong_password_is_refused(page: Page, site: Site) -> None:
    await log_in(page, site, password="not-the-right-password")
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await expect(page).to_have_url(site.url + "/login")
    await screenshot(page, "login_refused")


async def test_log_in_and_see_the_apps(page: Page, site: Site) -> None:
    await log_in(page, site)
    await expect(page).to_have_url(site.url + "/")
    apps = page.locator("#apps")
    for slug in ("shop", "blog", "later"):
        await expect(apps.get_by_role("link", name=slug, exact=True)).to_be_visible()
    await expect(apps.get_by_role("row", name="later")).to_contain_text("draft")
    failed = page.locator("#failed")
    await expect(failed).to_contain_text("broken_folder")
    await expect(failed).to_contain_text("<b>not a slug</b>")  # shown as text, not markup
    await expect(page.locator("#health")).to_contain_text("ready")
    await screenshot(page, "apps")


async def test_the_app_page_shows_everything(page: Page, site: Site) -> None:
    await log_in(page, site)
    await page.get_by_role("link", name="shop", exact=True).click()
    await expect(page).to_have_url(site.url + "/apps/shop")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Shop")
    collections = page.locator("#collections")
    await expect(collections.get_by_role("row", name="products")).to_contain_text("3")
    await expect(collections.get_by_role("row", name="users")).to_contain_text("2")
    plan = page.locator("#indexes")
    await expect(plan.get_by_role("row", name="sku_idx")).to_contain_text("create")
    users = page.locator("#users")
    alice = users.get_by_role("row", name="alice@example.com")
    await expect(alice).to_contain_text("editor")
    await expect(alice).to_contain_text(XSS)  # the name is text, never a script
    await expect(page.locator("#errors")).to_contain_text("payment failed")
    await expect(page.locator("#errors")).not_to_contain_text("hunter2")
    metrics = page.locator("#metrics")
    await expect(metrics.get_by_role("row", name="products insert_many")).to_contain_text("1")
    await expect(metrics).to_contain_text("event=login")
    await expect(page.locator("#health")).to_contain_text("ready")
    assert await page.locator("script").count() == 0
    await screenshot(page, "app_shop")


async def test_forged_posts_are_refused(page: Page, site: Site) -> None:
    await log_in(page, site)
    await page.goto(site.url + "/apps/shop")
    # Same origin, session cookie sent, but no CSRF token: refused.
    async with page.expect_navigation():
        await page.evaluate(
            """(action) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                document.body.appendChild(form);
                form.submit();
            }""",
            site.url + "/apps/shop/sync-indexes",
        )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    await expect(page.locator("main")).to_contain_text("security token")
    await screenshot(page, "csrf_refused")

    # Another site's form: the SameSite=Strict cookie stays home, so there is no session.
    attacker = "http://attacker.test/"
    await page.route(
        attacker,
        lambda route: route.fulfill(
            content_type="text/html",
            body=(
                f'<form method="post" action="{site.url}/apps/shop/sync-indexes">'
                '<input type="hidden" name="csrf_token" value="guessed-guessed-guessed">'
                "<button>Win a prize</button></form>"
            ),
        ),
    )
    await page.goto(attacker)
    await page.get_by_role("button", name="Win a prize").click()
    await expect(page).to_have_url(site.url + "/login")
    plan = await site.engine.plan_indexes("shop")
    assert "sku_idx" in {change.name for change in plan.create}  # nothing was synced


async def test_sync_indexes_from_the_page(page: Page, site: Site) -> None:
    await log_in(page, site)
    await page.goto(site.url + "/apps/shop")
    sku = page.locator("#indexes").get_by_role("row", name="sku_idx")
    await expect(sku).to_contain_text("create")
    await page.get_by_role("button", name="Sync indexes").click()
    await expect(page).to_have_url(site.url + "/apps/shop?synced=1")
    await expect(page.get_by_role("status")).to_have_text("Indexes synced.")
    await expect(sku).to_contain_text("present")
    await expect(page.locator("#indexes")).to_contain_text("in sync")
    await screenshot(page, "app_shop_synced")
    plan = await site.engine.plan_indexes("shop")
    assert plan.is_in_sync


async def test_log_out_then_the_console_asks_to_log_in(page: Page, site: Site) -> None:
    await log_in(page, site)
    await expect(page).to_have_url(site.url + "/")
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(site.url + "/login")
    await page.goto(site.url + "/")
    await expect(page).to_have_url(site.url + "/login")
    await page.goto(site.url + "/apps/shop")
    await expect(page).to_have_url(site.url + "/login")
    await screenshot(page, "logged_out")
