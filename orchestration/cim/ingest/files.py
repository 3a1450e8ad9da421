"""The landing folder as an inbox that cannot be tricked, and a content-addressed archive."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cim.city import City, FeedContract
from cim.ingest import archive as archive_format

_CHUNK = 1 << 20
# Longest file name we ever create from a partner's name (refused/ adds a prefix); most
# filesystems stop at 255 bytes.
MAX_NAME_BYTES = 180


@dataclass(frozen=True)
class Delivery:
    """A file found in the landing folder, matched to a feed (or refused, with why)."""

    path: Path
    name: str
    size: int
    received_at: dt.datetime
    feed: str | None
    refusal: str | None = None
    period: str | None = None
    # (size, mtime_ns, inode) when scanned: the file must still be this when copied
    signature: tuple[int, int, int] = (0, 0, 0)
    # still being written (changed during the settle interval): taken by a later run
    settling: bool = False


class FileChanged(Exception):
    """The file changed while it was being copied: it is still being uploaded."""


def display_name(name: str) -> str:
    """A file name as text that any database and terminal can hold.

    Names come from partners' systems in any encoding; undecodable bytes arrive as
    surrogate escapes, and control characters would garble logs.
    """
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def short_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, keeping its extension: safe to create."""
    text = display_name(name).replace("/", "_")
    if len(text.encode()) <= limit:
        return text
    stem, dot, suffix = text.rpartition(".")
    suffix = f".{suffix}" if dot and len(suffix) <= 10 else ""
    stem = text[: len(text) - len(suffix)] if suffix else text
    budget = limit - len(suffix.encode()) - 1
    cut = stem.encode()[:budget].decode("utf-8", "ignore")
    return f"{cut}~{suffix}"


def signature_of(st: os.stat_result) -> tuple[int, int, int]:
    """Size, modification time and inode: what must not move while a file is taken."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def take_copy(
    delivery: Delivery, archive: Path, limit_bytes: int | None, key: bytes | None = None
) -> tuple[str, Path]:
    """Copy a delivery into the archive once, hashing the bytes as they are copied.

    Every later step reads the archived copy, so what was checked is exactly what the
    hash names, even if the partner's system rewrites the landing file meanwhile. The
    copy goes to a temporary name and is renamed to ``archive/ab/<sha256><suffix>``, so a
    half-copied file never carries a valid name. Raises ``FileChanged`` when the file's
    size, time or identity moved during the copy (an upload still running).

    With ``key`` (a feed with personal columns) the copy is encrypted as it is written
    (``cim.ingest.archive``, name ``<sha256><suffix>.enc``): no plain copy of the
    delivery ever lands in the archive. The sha256 is that of the original bytes.
    """
    staging = archive / ".incoming"
    staging.mkdir(parents=True, exist_ok=True)
    partial = staging / f"{uuid.uuid4().hex}.partial"
    digest, copied = hashlib.sha256(), 0
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(delivery.path, flags)
        with os.fdopen(fd, "rb") as source, partial.open("wb") as sink:
            writer = archive_format.EncryptingWriter(sink, key) if key else sink
            before = os.fstat(source.fileno())
            if not stat.S_ISREG(before.st_mode) or signature_of(before) != delivery.signature:
                raise FileChanged("the file changed between the scan and the copy")
            while chunk := source.read(_CHUNK):
                copied += len(chunk)
                if limit_bytes is not None and copied > limit_bytes:
                    raise FileChanged("the file grew past the size limit while being copied")
                digest.update(chunk)
                writer.write(chunk)
            if key:
                writer.close()
            sink.flush()
            os.fsync(sink.fileno())
            after = os.stat(delivery.path, follow_symlinks=False)
            if signature_of(after) != delivery.signature or copied != delivery.size:
                raise FileChanged("the file changed while it was being copied")
        sha256 = digest.hexdigest()
        suffix = "".join(Path(short_name(delivery.name)).suffixes[-1:]).lower()
        encrypted = archive_format.ENCRYPTED_SUFFIX if key else ""
        target = archive / sha256[:2] / f"{sha256}{suffix[:12]}{encrypted}"
        # the same bytes are archived once; an encrypted copy made under an earlier key
        # is replaced by this one, which the current key opens (same content)
        if target.exists() and (key is None or archive_format.encrypted_with(target, key)):
            return sha256, target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        return sha256, target
    finally:
        partial.unlink(missing_ok=True)


def name_refusal(name: str) -> str | None:
    """Why a file name must not be used at all (it could escape folders when reused in
    paths downstream, or not fit the filesystem), or None."""
    if name in {".", ".."} or "/" in name or "\\" in name or ".." in name or "\x00" in name:
        return "the file name contains a path separator or '..'; rename it and resend"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return (
            f"the file name is longer than {MAX_NAME_BYTES} bytes; rename it to the "
            "contract's pattern and resend"
        )
    return None


def _refusal(entry: Path, st: os.stat_result, limit_bytes: int | None) -> str | None:
    """Why a landing entry must not be read at all, or None when it is safe.

    Names come from partners' systems: a link could point at any file on the server,
    and odd names could escape folders when reused in paths downstream. Reasons never
    name a path outside the landing folder.
    """
    if refusal := name_refusal(entry.name):
        return refusal
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link; send the file itself, not a link"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (folder, device, pipe or socket); send plain files only"
    if st.st_nlink > 1:
        return (
            "hard link (the same file has another name on this server); send a copy of "
            "the file itself"
        )
    if limit_bytes is not None and st.st_size > limit_bytes:
        mb = st.st_size / 1024 / 1024
        return (
            f"file is {mb:.1f} MB, over the limit of {limit_bytes / 1024 / 1024:.0f} MB; "
            "split it per period or raise max_file_mb in the feed contract"
        )
    return None


def match_feed(name: str, contracts: list[FeedContract]) -> list[str]:
    return [c.feed for c in contracts if fnmatch.fnmatchcase(name, c.file_pattern)]


def settle_seconds(city: City) -> float:
    """How long a file must stay unchanged to count as complete (``CIM_SETTLE_SECONDS``)."""
    from_env = os.environ.get("CIM_SETTLE_SECONDS")
    return float(from_env) if from_env else city.settings.ingestion.settle_seconds


def _received_at(st: os.stat_result, city: City) -> dt.datetime:
    """When the platform received the file: the inode's change time is set by this
    server's clock when the file is written or renamed into the landing folder; the
    sender's modification time can be anything (``rsync -t``, a zip's stored times)."""
    use_mtime = city.settings.ingestion.receipt_time == "file_mtime"
    moment = st.st_mtime if use_mtime else st.st_ctime
    return dt.datetime.fromtimestamp(moment, dt.UTC).replace(tzinfo=None)


def _lstat(entry: Path) -> os.stat_result | None:
    try:
        return entry.lstat()
    except OSError:
        return None  # gone between listing and looking: not a delivery any more


def not_a_delivery(name: str) -> bool:
    """Hidden files and uploads in progress (``*.partial``) are not deliveries (yet)."""
    hidden = name.startswith(".") and not name.startswith("..")
    return hidden or name.endswith(".partial")


def scan_landing(landing: Path, city: City, settle: float | None = None) -> list[Delivery]:
    """Every entry of the landing folder, matched or refused, in the order to apply them.

    Deliveries of one feed are applied by period, then by receipt time, so a correction
    always lands after the delivery it corrects. Files still changing over the settle
    interval are returned with ``settling=True`` and left for a later run.
    """
    settle = settle_seconds(city) if settle is None else settle
    entries: list[tuple[Path, os.stat_result]] = []
    for entry in landing.iterdir():
        if not_a_delivery(entry.name):
            continue
        if (st := _lstat(entry)) is not None:
            entries.append((entry, st))
    young = [(e, st) for e, st in entries if stat.S_ISREG(st.st_mode) and _is_young(st, settle)]
    moving: set[Path] = set()
    if young:
        time.sleep(settle)
        for entry, before in young:
            after = _lstat(entry)
            if after is None or signature_of(after) != signature_of(before):
                moving.add(entry)
    deliveries = [_delivery(e, st, city, settling=e in moving) for e, st in entries]
    return sorted(deliveries, key=lambda d: (d.feed or "", d.period or "", d.received_at, d.name))


def _is_young(st: os.stat_result, settle: float) -> bool:
    if settle <= 0:
        return False
    # every write moves the modification time; a file not written to for ``settle``
    # seconds is complete (or its upload stalled, which only a rename convention can tell)
    return time.time() - st.st_mtime < settle


def _delivery(entry: Path, st: os.stat_result, city: City, settling: bool) -> Delivery:
    feeds = match_feed(entry.name, city.contracts)
    contract = city.contract_by_feed.get(feeds[0]) if len(feeds) == 1 else None
    limit = city.max_file_bytes(contract) if contract else None
    refusal = _refusal(entry, st, limit)
    if refusal is None and not feeds:
        patterns = ", ".join(sorted(c.file_pattern for c in city.contracts))
        refusal = f"file name matches no feed contract; expected one of: {patterns}"
    elif refusal is None and len(feeds) > 1:
        refusal = f"file name matches several feeds {feeds}; make the file_patterns distinct"
    return Delivery(
        path=entry,
        name=display_name(entry.name),
        size=st.st_size,
        received_at=_received_at(st, city),
        feed=feeds[0] if len(feeds) == 1 else None,
        refusal=refusal,
        period=contract.period_of(entry.name) if contract else None,
        signature=signature_of(st),
        settling=settling and refusal is None,
    )
