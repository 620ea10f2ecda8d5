"""Drive the web app in a real headless Chromium (Selenium + Debian's ``chromium``/``chromium-driver``).

Shared by ``tests/web/test_browser.py`` and ``docs/gen_web_screenshot.py``: find the browser,
start ``adain-nst serve`` on a free port of 127.0.0.1, and act on the page through the
``elem_id`` s that ``adain_nst/web/app.py`` gives its widgets.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "ADAIN_NST_CHROMIUM"
CHROMEDRIVER_ENV = "ADAIN_NST_CHROMEDRIVER"
START_TIMEOUT = 90.0


def missing() -> str | None:
    """Why the browser tests cannot run here (``None``: they can)."""
    for module, extra in (("gradio", 'the web extra (pip install "adain-nst[web]")'), ("selenium", "selenium")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: install {extra}"
    if browser_paths() is None:
        return (
            "no headless browser: install Debian's chromium and chromium-driver "
            f"(apt-get install chromium chromium-driver) or set {CHROMIUM_ENV} and {CHROMEDRIVER_ENV}"
        )
    return None


def browser_paths() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` executables, from the environment or ``PATH``; ``None`` if either is missing."""
    chromium = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get(CHROMEDRIVER_ENV) or shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_app(port: int | None = None, args: Sequence[str] = (), log: Path | None = None) -> Iterator[str]:
    """``adain-nst serve --host 127.0.0.1 --port PORT`` in a subprocess; yields its URL once it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "adain_nst", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    out = open(log, "w+b") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"adain-nst serve exited with status {proc.returncode}: {_tail(log)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"adain-nst serve did not answer on {url} within {START_TIMEOUT:.0f} s: {_tail(log)}"
                )
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-2000:] if log and log.exists() else "(no log)"


def make_driver(width: int = 1400, height: int = 1700) -> Any:
    """A headless Chromium driven by Selenium (no network, no Selenium Manager: the paths are given)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    if paths is None:
        raise RuntimeError(missing() or "no browser")
    chromium, chromedriver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def wait_for(driver: Any, condition: Any, timeout: float = 30.0, what: str = "the page") -> Any:
    """``WebDriverWait(driver, timeout).until(condition)`` with a message naming ``what``."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=f"timed out waiting for {what}")


def open_app(driver: Any, url: str) -> None:
    """Load the page and wait until its Preview button is there."""
    driver.get(url)
    wait_for(driver, lambda d: d.find_elements("css selector", "#preview"), what="the app's Preview button")


def upload(driver: Any, elem_id: str, path: Path) -> None:
    """Put the file ``path`` into the upload widget ``#elem_id`` (its hidden ``<input type=file>``)."""
    field = wait_for(
        driver, lambda d: d.find_elements("css selector", f"#{elem_id} input[type=file]"), what=f"#{elem_id}'s input"
    )[0]
    field.send_keys(str(Path(path).resolve()))
    name = Path(path).name
    # The widget lists the file once it is on the server (stem and suffix in separate elements).
    shown = lambda d: name in "".join(d.find_element("css selector", f"#{elem_id}").text.split())  # noqa: E731
    wait_for(driver, shown, what=f"{name} uploaded")


def pick_style(driver: Any, name: str) -> None:
    """Tick the bundled painting ``name`` under "Picked paintings"."""
    box = driver.find_element("css selector", f"#style-names input[name='{name}']")
    if not box.is_selected():
        box.click()
    wait_for(driver, lambda d: name in status_text(d, "style-summary"), what=f"{name} in the style summary")


def click_painting(driver: Any, index: int) -> None:
    """Click the ``index``-th painting of the style gallery (it toggles the painting's pick)."""
    thumbs = wait_for(
        driver, lambda d: d.find_elements("css selector", "#style-gallery button"), what="the gallery's paintings"
    )
    thumbs[index].click()


def click(driver: Any, elem_id: str) -> None:
    """Click the button ``#elem_id``."""
    driver.find_element("css selector", f"#{elem_id}").click()


def status_text(driver: Any, elem_id: str = "status") -> str:
    """The text of the Markdown block ``#elem_id``."""
    return str(driver.find_element("css selector", f"#{elem_id}").text)


def wait_status(driver: Any, *needles: str, timeout: float = 30.0, elem_id: str = "status") -> str:
    """Wait until the Markdown block ``#elem_id`` contains every one of ``needles``; returns its text."""

    def found(d: Any) -> str | None:
        text = status_text(d, elem_id)
        return text if all(n in text for n in needles) else None

    return str(wait_for(driver, found, timeout, what=f"#{elem_id} containing {needles}"))


def result_size(driver: Any, timeout: float = 60.0) -> tuple[int, int]:
    """Wait for the stylised image in ``#result`` to load; its natural ``(width, height)``."""
    script = (
        "const im = document.querySelector('#result img');"
        "return im && im.complete && im.naturalWidth > 0 ? [im.naturalWidth, im.naturalHeight] : null;"
    )
    size = wait_for(driver, lambda d: d.execute_script(script), timeout, what="the stylised image")
    return int(size[0]), int(size[1])


__all__ = [
    "click",
    "click_painting",
    "free_port",
    "make_driver",
    "missing",
    "open_app",
    "pick_style",
    "result_size",
    "served_app",
    "status_text",
    "upload",
    "wait_for",
    "wait_status",
]
