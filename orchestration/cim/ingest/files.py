"""The landing folder as an inbox that cannot be tricked, and a content-addressed archive."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cim.city import City, FeedContract

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Delivery:
    """A file found in the landing folder, matched to a feed (or refused, with why)."""

    path: Path
    name: str
    size: int
    received_at: dt.datetime
    feed: str | None
    refusal: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def archive_copy(path: Path, archive: Path, sha256: str) -> Path:
    """Copy a delivery to ``archive/ab/<sha256><suffix>`` once, atomically.

    Content addressing makes a second copy of the same bytes a no-op, and the
    temp-file-then-rename keeps a half-copied file from ever carrying a valid name.
    """
    target = archive / sha256[:2] / f"{sha256}{''.join(path.suffixes[-1:]).lower()}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with path.open("rb") as source, partial.open("wb") as sink:
        shutil.copyfileobj(source, sink, _CHUNK)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(partial, target)
    return target


def _refusal(entry: Path, landing: Path, limit_bytes: int | None) -> str | None:
    """Why a landing entry must not be read at all, or None when it is safe.

    Names come from partners' systems: a symlink could point at any file on the
    server, and odd names could escape folders when reused in paths downstream.
    """
    name = entry.name
    if name in {".", ".."} or "/" in name or "\\" in name or ".." in name or "\x00" in name:
        return f"file name {name!r} contains a path separator or '..'; rename it and resend"
    if entry.is_symlink():
        target = os.path.realpath(entry)
        if not Path(target).is_relative_to(landing.resolve()):
            return f"symbolic link to {target} outside the landing folder; send the file itself"
        return "symbolic link; send the file itself, not a link"
    if not entry.is_file():
        return "not a regular file (folder, device or socket); send plain files only"
    if limit_bytes is not None and entry.stat().st_size > limit_bytes:
        mb = entry.stat().st_size / 1024 / 1024
        return (
            f"file is {mb:.1f} MB, over the limit of {limit_bytes / 1024 / 1024:.0f} MB; "
            "split it per period or raise max_file_mb in the feed contract"
        )
    return None


def match_feed(name: str, contracts: list[FeedContract]) -> list[str]:
    return [c.feed for c in contracts if fnmatch.fnmatchcase(name, c.file_pattern)]


def scan_landing(landing: Path, city: City) -> list[Delivery]:
    """Every entry of the landing folder, oldest delivery first, matched or refused."""
    deliveries = []
    for entry in landing.iterdir():
        hidden = entry.name.startswith(".") and not entry.name.startswith("..")
        if hidden or entry.name.endswith(".partial"):
            continue  # hidden files and uploads in progress are not deliveries (yet)
        feeds = match_feed(entry.name, city.contracts)
        contract = city.contract_by_feed.get(feeds[0]) if len(feeds) == 1 else None
        limit = city.max_file_bytes(contract) if contract else None
        refusal = _refusal(entry, landing, limit)
        if refusal is None and not feeds:
            patterns = ", ".join(sorted(c.file_pattern for c in city.contracts))
            refusal = f"file name matches no feed contract; expected one of: {patterns}"
        elif refusal is None and len(feeds) > 1:
            refusal = f"file name matches several feeds {feeds}; make the file_patterns distinct"
        stat = entry.lstat()
        deliveries.append(
            Delivery(
                path=entry,
                name=entry.name,
                size=stat.st_size,
                received_at=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None),
                feed=feeds[0] if len(feeds) == 1 else None,
                refusal=refusal,
            )
        )
    return sorted(deliveries, key=lambda d: (d.received_at, d.name))
