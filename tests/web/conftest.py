"""Fixtures of the web app's tests: one ``adain-nst serve`` on 127.0.0.1 shared by the tests that ask for it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from . import browser


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of ``adain-nst serve --host 127.0.0.1 --port <free>`` run in a subprocess (needs the web extra)."""
    if importlib.util.find_spec("gradio") is None:
        pytest.skip('gradio is not installed: install the web extra (pip install "adain-nst[web]")')
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with browser.served_app(log=log) as url:
        yield url
