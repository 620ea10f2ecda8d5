"""The web app in a real headless Chromium: ``adain-nst serve`` on 127.0.0.1, driven through Selenium.

Skips, saying what is missing, without the web extra, selenium, or Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them where it can).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adain_nst import samples
from adain_nst.web.handlers import MAX_UPLOAD_MB, PREVIEW_SIZE

from . import browser

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    d = browser.make_driver()
    try:
        yield d
    finally:
        d.quit()


def test_upload_pick_a_bundled_style_and_get_an_image_of_the_content_s_shape(
    app_url: str, driver: Any, tmp_path: Path
) -> None:
    # A portrait crop of a sample: a shape none of the samples has, so the result must come from the upload.
    with Image.open(samples.path("coffee")) as im:
        im.convert("RGB").crop((150, 0, 390, 384)).save(tmp_path / "portrait.png")  # 240 x 384
    browser.open_app(driver, app_url)
    browser.upload(driver, "content-upload", tmp_path / "portrait.png")
    browser.wait_status(driver, "portrait.png", elem_id="content-status")  # the page shows the uploaded photo
    browser.click_painting(driver, samples.names("style").index("monet_etretat"))  # a click in the gallery
    browser.wait_status(driver, "Style: monet_etretat", elem_id="style-summary")
    browser.click(driver, "preview")
    browser.wait_status(driver, "Preview:", timeout=60)
    width, height = browser.result_size(driver)
    assert min(width, height) == PREVIEW_SIZE
    assert width / height == pytest.approx(240 / 384, abs=1 / PREVIEW_SIZE)
    assert "Traceback" not in driver.page_source


def test_a_text_file_as_the_content_shows_the_named_error(app_url: str, driver: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a photo\n")
    browser.open_app(driver, app_url)
    browser.upload(driver, "content-upload", notes)
    # Named at once under the photo...
    browser.wait_status(driver, "ImageReadError", "notes.txt", elem_id="content-status")
    # ...and again by the run itself.
    browser.pick_style(driver, "renoir_landscape")
    browser.click(driver, "preview")
    status = browser.wait_status(driver, "ImageReadError", "not an image", "notes.txt")
    assert "/tmp" not in status  # the upload's name, not the server's temporary path
    assert driver.find_elements("css selector", "#result img") == []
    assert "Traceback" not in driver.page_source


def test_an_upload_over_the_size_limit_is_refused_with_a_message(app_url: str, driver: Any, tmp_path: Path) -> None:
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff" * (MAX_UPLOAD_MB * 2**20 + 1))
    browser.open_app(driver, app_url)
    driver.find_element("css selector", "#content-upload input[type=file]").send_keys(str(big))
    browser.wait_for(
        driver,
        lambda d: "exceed the maximum allowed size" in d.find_element("tag name", "body").text,
        what="the upload-size message",
    )
    assert "huge.jpg" in driver.find_element("tag name", "body").text
    assert "huge.jpg" not in browser.status_text(driver, "content-status")  # it never reached the app
