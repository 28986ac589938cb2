"""Debian's headless Chromium driven by Selenium. Tests using it skip where Chromium or
its driver is missing, and fail instead when BMLOCAL_REQUIRE_BROWSER=1 (CI)."""
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from tests.support.require import missing

T = TypeVar("T")
BINARIES = ("chromium", "chromedriver")


def browser() -> Iterator["object"]:
    absent = [name for name in BINARIES if shutil.which(name) is None]
    if absent:
        message = (f"{' and '.join(absent)} not found: `apt-get install -y chromium "
                   "chromium-driver`")
        missing("BROWSER", message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""),
                              options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def until(check: Callable[[], T], timeout: float = 20, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Exception:  # the page is changing under us: look again
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def screenshot(driver, name: str) -> None:
    """docs/ screenshots, taken where BMLOCAL_SCREENSHOTS names a directory."""
    where = os.environ.get("BMLOCAL_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(where) / name))
