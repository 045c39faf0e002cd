"""pytest-textual-snapshot keeps its report data in a folder of /tmp made at session
start and read at session end. On CI's long run that folder was gone by the time the
snapshot tests ran (every one of them failed writing to it, and the report crashed):
make sure it is there when they run and when the report is made."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _keep_snapshot_folder() -> None:
    folder = os.environ.get("TEXTUAL_SNAPSHOT_TEMPDIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def snapshot_folder() -> None:
    _keep_snapshot_folder()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish() -> None:
    _keep_snapshot_folder()
