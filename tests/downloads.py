"""The files a dashboard run under AppTest offers for download, read back as bytes.

AppTest keeps the media its download buttons serve in an in-memory store it drops after
every run; ``keep_downloads`` swaps in one that stays, so a test reads exactly the bytes a
reader's browser would receive (the real Streamlit store, nothing mocked).
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

KEPT: list[MemoryMediaFileStorage] = []


class KeptMediaStorage(MemoryMediaFileStorage):
    """AppTest's own in-memory media storage, kept after the run."""

    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        KEPT.append(self)


def keep_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", KeptMediaStorage)
    KEPT.clear()


def served(url: str) -> bytes:
    name = url.rsplit("/", 1)[-1]
    for store in reversed(KEPT):
        try:
            return store.get_file(name).content
        except MediaFileStorageError:  # not in this run's storage: try the one before
            continue
    raise AssertionError(f"no file served at {url}")


def downloads(at: AppTest) -> dict[str, bytes]:
    """``<name>.csv`` / ``<name>.xlsx`` -> the bytes of every download button on the page
    (named by the key ``app.export.offer_downloads`` gives them)."""
    files = {}
    for button in at.get("download_button"):
        key = button.proto.id.rsplit("-download-", 1)[-1]  # csv-<name> or xlsx-<name>
        kind, _, name = key.partition("-")
        if kind not in ("csv", "xlsx"):
            continue  # the council report's PDF, built on click: tests/test_report.py
        files[f"{name}.{kind}"] = served(button.proto.url)
    return files


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def xlsx_rows(data: bytes) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]
