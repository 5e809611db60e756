"""Fixtures of the browser suite: Debian's chromium driven by Playwright (jupyter_browser.py).

Collected by `make test-browser` only (marker `browser`; `make test` deselects it). It skips, saying why,
where Playwright or a Chromium cannot be had; it never passes without a browser.
"""
from pathlib import Path

import pytest
from jupyter_browser import CHROMIUM_ARGS, SHOTS, ConsoleErrors, chromium_path


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: run make test-browser")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (make test-browser does it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console():
    errors = ConsoleErrors()
    yield errors
    assert not errors.errors, "browser console errors:\n" + "\n".join(errors.errors)
