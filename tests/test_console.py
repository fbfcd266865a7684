"""The web console in a real browser: Debian's Chromium driven by Playwright against the app
on loopback. Screenshots of each page land in tests/_artifacts/screenshots/.

Skipped with the reason when Chromium is not installed (`apt-get install chromium`), except
under CI=true, where the console must be tested.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.imaging import encode, photo
from tests.live import LiveService, live_service, service_unavailable

SCREENSHOTS = Path(__file__).parent / "_artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with live_service("sqlite", tmp_path_factory.mktemp("console")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        service_unavailable("Chromium (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("artwork")
    small = folder / "holiday-512.png"
    small.write_bytes(encode(photo((512, 1024)), "PNG"))
    text = folder / "not-an-image.png"
    text.write_bytes(b"this is a text file with a .png name\n")
    return {"small": small, "text": text}


def _page(browser: Any, service: LiveService) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{service.base_url}/")
    return page


def _sign_in(page: Any, key: str) -> None:
    page.fill("#api-key", key)
    page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_selector("#who-text:not(:empty)")
    assert key not in page.url


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_partner_uploads_sees_the_warning_fixes_the_placement_and_approves(
    browser: Any, service: LiveService, files: dict[str, Path]
) -> None:
    page = _page(browser, service)
    _sign_in(page, service.key("partner", "acme"))
    page.wait_for_selector("#partner:not([hidden])")
    assert not page.is_visible("#production")

    # A rejected upload says why.
    page.fill("#device-search", "iphone 15")
    page.focus("#device-search")
    page.keyboard.press("ArrowDown")  # into the device list, by keyboard
    page.select_option("#device-list", "iphone-15")
    page.wait_for_selector("#device-image:not([hidden])")
    page.set_input_files("#file", str(files["text"]))
    page.click("#upload")
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "unsupported-format" in page.inner_text("#upload-error")

    # A low-resolution file: the familiar orange warning at once.
    page.set_input_files("#file", str(files["small"]))
    page.click("#upload")
    page.wait_for_selector("#upload-warning:not([hidden])")
    assert "Low resolution" in page.inner_text("#upload-warning")
    page.wait_for_selector("#step-place:not([hidden])")
    _shot(page, "partner-upload-low-resolution.png")

    # A wrong placement (shown whole, so the bleed is empty) fails...
    page.check("input[name=fit][value=contain]")
    page.click("#submit")
    page.wait_for_selector("#verdict:not([hidden])")
    assert "fail" in page.get_attribute("#verdict", "class")
    codes = page.eval_on_selector_all("#findings button", "bs => bs.map(b => b.dataset.code)")
    assert {"bleed-not-covered", "low-resolution", "low-effective-ppi"} <= set(codes)
    page.click("#findings button[data-code=bleed-not-covered]")
    page.wait_for_selector("#highlight:not([hidden])")
    page.wait_for_selector("#overlay[src^='blob:']")
    assert page.is_hidden("#approve")  # errors cannot be signed off
    _shot(page, "partner-findings.png")

    # ...fixed by filling the case and turning it a little: warnings only, then approved.
    page.check("input[name=fit][value=cover]")
    page.click("#rotate-right")
    page.click("#rotate-left")
    page.fill("#scale", "1.05")
    page.dispatch_event("#scale", "input")
    page.click("#submit")
    page.wait_for_function(
        "document.querySelector('#verdict').className.includes('warn')"
        " && !document.querySelector('#verdict').hidden"
    )
    codes = page.eval_on_selector_all("#findings button", "bs => bs.map(b => b.dataset.code)")
    assert "bleed-not-covered" not in codes and "low-resolution" in codes
    page.wait_for_selector("#proof[src^='blob:']")
    page.click("#approve")
    page.wait_for_selector("#approved:not([hidden])")
    _shot(page, "partner-approved.png")
    job_id = page.evaluate("state.job.id")
    assert page.evaluate("state.job.partner_signed_off_at") is not None
    page.context.close()
    service.keys["approved-job"] = job_id


def test_production_approves_and_downloads_the_zip(
    browser: Any, service: LiveService, files: dict[str, Path]
) -> None:
    job_id = service.keys.get("approved-job")
    if job_id is None:
        pytest.skip("needs the partner test's signed-off job")
    page = _page(browser, service)
    _sign_in(page, service.key("production"))
    page.wait_for_selector("#production:not([hidden])")
    assert not page.is_visible("#partner")
    page.wait_for_selector(f"#queue button:text('{job_id}')")
    _shot(page, "production-queue.png")

    page.click(f"#queue button:text('{job_id}')")
    page.wait_for_selector("#job-proof[src^='blob:']")
    page.click("#job-approve")
    page.wait_for_selector("#job-message:text('Approved for printing.')")
    assert "approved" in page.inner_text("#job-history")
    _shot(page, "production-job.png")

    # Filter the queue down to approved jobs, select ours, download the ZIP.
    page.select_option("#filters select[name=production_status]", "approved")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(f"#queue input[value='{job_id}']:not([disabled])")
    page.check(f"#queue input[value='{job_id}']")
    with page.expect_download() as info:
        page.click("#download-zip")
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert [entry["job"] for entry in manifest["jobs"]] == [job_id]
        for file in manifest["jobs"][0]["files"]:
            assert hashlib.sha256(archive.read(file["name"])).hexdigest() == file["sha256"]

    # Sensible empty state.
    page.fill("#filters input[name=partner]", "nobody-at-all")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#queue-empty:not([hidden])")
    page.context.close()
