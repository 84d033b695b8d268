"""A real browser on the upload page: Debian's ``chromium`` driven headless by Selenium (the system browser
and ``chromedriver``, nothing downloaded), in a phone-sized window with the user agent of Zalo's in-app
browser. It opens the upload link a Zalo user got, picks a PDF, uploads it, and sees the confirmation;
the evidence is recorded and the receipt arrives in the person's chat in the fake Zalo.

Skipped where no browser is installed; in CI (``CI`` set) a missing browser fails instead (``.ci/run``
installs ``chromium`` and ``chromium-driver``). Screenshots of the page before and after the upload are
written under the test's tmp folder (``upload-page.png``, ``upload-error.png``, ``upload-done.png``).
"""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from sqlmodel import select

from storage.models import Evidence, OutboxMessage
from tests import pdf_factory
from tests.web_support import fileless, upload_urls, web_world

PHONE = {"width": 390, "height": 844}
ZALO_UA = ("Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Mobile Safari/537.36 Zalo android/12100602 ZaloTheme/light ZaloLanguage/vi")
UPLOAD_BOUND_S = 120  # an upper bound for the wait, not a pause: the wait ends as soon as the page answers


def browser_or_skip() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if browser and driver:
        return browser, driver
    message = "no chromium + chromedriver + selenium here (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {message}")
    pytest.skip(message)


def drive(browser: str, driver_path: str, url: str, wrong_path: str, pdf_path: str, shots) -> dict:
    """Runs in a thread (Selenium blocks): open the page, upload, wait for the answer, take screenshots."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={PHONE['width']},{PHONE['height']}", "--lang=vi"):
        options.add_argument(argument)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {**PHONE, "pixelRatio": 1.0}, "userAgent": ZALO_UA})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.get(url)
        seen = {"title": driver.title, "card": driver.find_element(By.CSS_SELECTOR, "section.card").text}
        driver.save_screenshot(str(shots / "upload-page.png"))
        message = driver.find_element(By.ID, "msg")
        # first a picture saved as .pdf: a clear error, the form stays for another try
        driver.find_element(By.ID, "file").send_keys(wrong_path)
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, UPLOAD_BOUND_S).until(lambda d: "err" in message.get_attribute("class").split()
                                                    and message.is_displayed())
        seen.update(error=message.text, error_form_shown=driver.find_element(By.ID, "f").is_displayed())
        driver.save_screenshot(str(shots / "upload-error.png"))
        driver.find_element(By.ID, "file").send_keys(pdf_path)
        seen["chosen"] = driver.find_element(By.ID, "chosen").text
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, UPLOAD_BOUND_S).until(lambda d: "ok" in message.get_attribute("class").split())
        seen.update(message=message.text, css=message.get_attribute("class"),
                    progress=driver.find_element(By.ID, "bar").get_attribute("value"),
                    form_shown=driver.find_element(By.ID, "f").is_displayed(),
                    width=driver.execute_script("return document.documentElement.scrollWidth"))
        driver.save_screenshot(str(shots / "upload-done.png"))
        return seen
    finally:
        driver.quit()


async def test_a_phone_browser_uploads_a_pdf_through_the_link(tmp_path, monkeypatch):
    browser, driver = browser_or_skip()
    async with web_world(tmp_path, monkeypatch) as world:
        officer = await fileless(world, "Võ Thị Lan")
        from tests.test_web import open_rows

        assignment, task = (await open_rows(world, "VP"))[1]  # no signature needed
        [url] = upload_urls(await officer.say(choice=f"submit:{assignment.id}"))
        pdf = pdf_factory.make_large_pdf(2 * 1024 * 1024)
        pdf_path = tmp_path / "Báo cáo tháng 11.pdf"
        pdf_path.write_bytes(pdf)
        shots = tmp_path / "shots"
        shots.mkdir()

        wrong_path = tmp_path / "anh-chup.pdf"
        wrong_path.write_bytes(pdf_factory.make_jpeg_bytes())

        seen = await asyncio.to_thread(drive, browser, driver, url, str(wrong_path), str(pdf_path), shots)

        assert f"#{task.id}" in seen["title"] and f"Nhiệm vụ #{task.id}" in seen["card"]
        assert task.title in seen["card"] and "Hạn nộp" in seen["card"] and "hết ngày" in seen["card"]
        assert "Báo cáo tháng 11.pdf" in seen["chosen"] and "2,0 MB" in seen["chosen"]
        assert "Chưa nộp được" in seen["error"] and "không phải tệp PDF" in seen["error"] and seen["error_form_shown"]
        assert "ok" in seen["css"].split(), seen
        assert "Đã nộp thành công" in seen["message"] and "Đã nhận tài liệu" in seen["message"]
        assert seen["progress"] == "100"  # the XHR progress events reached the end
        assert not seen["form_shown"] and seen["width"] <= PHONE["width"]  # no sideways scrolling on a phone
        for name in ("upload-page.png", "upload-error.png", "upload-done.png"):
            assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        async with world.app.db.session() as session:
            evidence = (await session.exec(select(Evidence))).one()
            assert evidence.channel == "web" and evidence.file_name == "Báo cáo tháng 11.pdf"
            assert world.app.store.read(evidence.storage_key) == pdf
            receipts = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))).all()
            assert [(r.channel, r.chat_id) for r in receipts] == [("zalo", officer.user_id)]
        receipt = await officer.chat.next_message()  # in the fake Zalo chat
        assert "Đã nhận tài liệu" in receipt.text and task.title in receipt.text
