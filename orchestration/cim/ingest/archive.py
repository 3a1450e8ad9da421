"""Archived originals of feeds with personal columns, encrypted at rest.

A feed whose contract marks a column ``personal`` has its archived originals written
encrypted (``archive/ab/<sha256><suffix>.enc``); other feeds stay plain, at no cost. The
sha256 in the name and the ledger is always that of the ORIGINAL bytes, so duplicates,
replays and withdrawals work as before. Readers never see the difference: ``readable``
yields a path DuckDB can read, decrypting to a private temporary file when needed.

File format, version 1 (chunked AES-256-GCM, the STREAM construction)::

    header  magic  b"\\x89CIMARC\\n"     8 bytes
            version 0x01                 1 byte
            key id                       8 bytes  first bytes of sha256(KEY_ID_LABEL + key)
            nonce prefix                 7 bytes  random, one per file
            chunk size                   4 bytes  big-endian, plaintext bytes per chunk
    chunks  AES-256-GCM(key, nonce = prefix + counter (4 bytes BE) + last (1 byte),
                        plaintext chunk, associated data = the header)

Every chunk but the last holds exactly ``chunk size`` plaintext bytes (so chunk size +
16 bytes of tag on disk); the last holds 0 to ``chunk size`` bytes and has its ``last``
byte set to 1, so a file cut at a chunk boundary does not decrypt. The key id tells a
wrong key ("the key does not match") from a damaged file without decrypting anything.
Memory: two chunks (2 MiB), whatever the file size.

The key (32 bytes) comes from ``CIM_ARCHIVE_KEY`` (64 hex characters or base64) or is
generated once into ``CIM_HOME/secrets/archive.key``, like the pseudonym key. Losing it
loses the archived originals of personal feeds (their loaded rows stay): back it up
apart from the archive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import shutil
import struct
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cim.city import City, FeedContract
from cim.ingest import store
from cim.ingest.readers import UnreadableFile
from cim.settings import Paths, deployment_secret

MAGIC = b"\x89CIMARC\n"
VERSION = 1
KEY_ID_LABEL = b"cim archive key id v1"
ENCRYPTED_SUFFIX = ".enc"
CHUNK_BYTES = 1 << 20
_TAG = 16
_HEADER = struct.Struct(">8sB8s7sI")
HEADER_BYTES = _HEADER.size
KEY_ENV, KEY_FILE = "CIM_ARCHIVE_KEY", "archive.key"
KEY_SOURCES = f"{KEY_ENV} or CIM_HOME/secrets/{KEY_FILE}"
SCRATCH = ".scratch"  # below CIM_HOME: decrypted copies, for the time they are read


class ArchiveKeyError(ValueError):
    """The archive key is not a 256-bit key: the message says where it came from."""


class ArchiveUnreadable(UnreadableFile):
    """An encrypted archived copy that cannot be decrypted: wrong key, or damaged."""


def has_personal_columns(contract: FeedContract) -> bool:
    return any(c.personal for c in contract.columns)


def archive_key(paths: Paths) -> bytes:
    """The 32-byte key of the archive (see the module docstring for where it comes from)."""
    text = deployment_secret(paths, KEY_ENV, KEY_FILE)
    source = KEY_ENV if os.environ.get(KEY_ENV) else f"CIM_HOME/secrets/{KEY_FILE}"
    key = _decode_key(text.strip())
    if key is None:
        raise ArchiveKeyError(
            f"{source} is not a 256-bit key: give 64 hex characters or 32 bytes in base64 "
            "(e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


def _decode_key(text: str) -> bytes | None:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        try:
            key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return None
    return key if len(key) == 32 else None


def key_id(key: bytes) -> bytes:
    """Names a key without revealing it: tells a wrong key from a damaged file."""
    return hashlib.sha256(KEY_ID_LABEL + key).digest()[:8]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, int(last))


class EncryptingWriter:
    """Writes the format above to ``sink`` as plaintext arrives; ``close`` ends it."""

    def __init__(self, sink: BinaryIO, key: bytes):
        self.sink, self.cipher = sink, AESGCM(key)
        self.prefix, self.counter, self.pending = secrets.token_bytes(7), 0, bytearray()
        self.header = _HEADER.pack(MAGIC, VERSION, key_id(key), self.prefix, CHUNK_BYTES)
        sink.write(self.header)

    def write(self, data: bytes) -> None:
        self.pending += data
        # keep at least one byte back: only close() knows which chunk is the last
        while len(self.pending) > CHUNK_BYTES:
            self._emit(bytes(self.pending[:CHUNK_BYTES]), last=False)
            del self.pending[:CHUNK_BYTES]

    def close(self) -> None:
        self._emit(bytes(self.pending), last=True)
        self.pending.clear()

    def _emit(self, chunk: bytes, last: bool) -> None:
        nonce = _nonce(self.prefix, self.counter, last)
        self.sink.write(self.cipher.encrypt(nonce, chunk, self.header))
        self.counter += 1


def is_encrypted(path: Path) -> bool:
    """Whether ``path`` is in the format above (its content says so, not its name)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def encrypted_with(path: Path, key: bytes) -> bool:
    """Whether ``path`` is an encrypted copy that ``key`` opens."""
    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER.size)
    except OSError:
        return False
    return len(header) == _HEADER.size and _HEADER.unpack(header)[:3] == (
        MAGIC,
        VERSION,
        key_id(key),
    )


def decrypt(source: Path, sink: BinaryIO, key: bytes) -> None:
    """Write the original bytes of the encrypted ``source`` to ``sink``, chunk by chunk.

    Raises ``ArchiveUnreadable`` naming the file when the key does not match or the file
    is damaged; nothing is trusted before its chunk's tag checked out.
    """
    where = f"{source.parent.parent.name}/{source.parent.name}/{source.name}"
    with source.open("rb") as handle:
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size or header[: len(MAGIC)] != MAGIC:
            raise ArchiveUnreadable(f"the archived copy {where} is not an encrypted archive file")
        _, version, kid, prefix, chunk_bytes = _HEADER.unpack(header)
        if version != VERSION:
            raise ArchiveUnreadable(
                f"the archived copy {where} is in encryption format version {version}, which "
                f"this version of the platform cannot read (it reads version {VERSION})"
            )
        if kid != key_id(key):
            raise ArchiveUnreadable(
                f"the archived copy {where} cannot be decrypted: the archive key does not "
                f"match the one it was encrypted with ({KEY_SOURCES}); set the key it was "
                "written with"
            )
        cipher, counter, size = AESGCM(key), 0, chunk_bytes + _TAG
        block = handle.read(size)
        while True:
            ahead = handle.read(size) if len(block) == size else b""
            last = not ahead
            try:
                sink.write(cipher.decrypt(_nonce(prefix, counter, last), block, header))
            except (InvalidTag, ValueError) as exc:
                raise ArchiveUnreadable(
                    f"the archived copy {where} is damaged or was altered (chunk {counter} "
                    "does not check out); restore it from a backup"
                ) from exc
            if last:
                return
            block, counter = ahead, counter + 1


@contextmanager
def readable(archived: Path, paths: Paths) -> Iterator[Path]:
    """``archived`` as plain bytes for DuckDB: the file itself when it is plain (feeds
    without personal columns, archives written before encryption), else a decrypted copy
    in ``CIM_HOME/.scratch`` (folder 0700, file 0600), removed afterwards even on error.

    The copy keeps the original suffix (``.xlsx``): readers that go by it keep working.
    """
    if not is_encrypted(archived):
        yield archived
        return
    key = archive_key(paths)
    scratch = paths.home / SCRATCH
    scratch.mkdir(mode=0o700, exist_ok=True)
    # the cim-ingest- prefix lets ledger messages hide the path (loader.scrub)
    with tempfile.TemporaryDirectory(prefix="cim-ingest-", dir=scratch) as folder:
        plain = Path(folder) / archived.name.removesuffix(ENCRYPTED_SUFFIX)
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as sink:
            decrypt(archived, sink, key)
        yield plain


@dataclass(frozen=True)
class Encrypted:
    """One plain archived original of a personal feed, and what `cim archive encrypt` did."""

    feed: str
    plain: Path
    encrypted: Path | None
    problem: str | None = None


def _personal_feeds(city: City) -> list[str]:
    return [c.feed for c in city.contracts if has_personal_columns(c)]


def encrypt_archive(
    con: duckdb.DuckDBPyConnection, city: City, paths: Paths, dry_run: bool = False
) -> list[Encrypted]:
    """Encrypt in place the plain archived originals of personal feeds (an archive
    written before encryption at rest), pointing the ledger at the encrypted copies.

    Each file is encrypted to a temporary name, checked against the ledger's sha256 as
    it is read, renamed (atomic), the ledger updated, and only then is the plain copy
    removed: a crash at any point leaves a readable original the ledger points at.
    """
    feeds = _personal_feeds(city)
    if not feeds:
        return []
    store.ensure_meta(con)  # a warehouse older than the purge columns gets them
    rows = con.execute(
        "SELECT archive_path, any_value(feed), any_value(sha256) FROM meta.file_ledger "
        "WHERE list_contains(?, feed) AND sha256 IS NOT NULL AND archive_path IS NOT NULL "
        "AND purged_at IS NULL GROUP BY archive_path ORDER BY archive_path",
        [feeds],
    ).fetchall()
    key = archive_key(paths)
    done = []
    for path_text, feed, sha in rows:
        plain = Path(path_text)
        if plain.name.endswith(ENCRYPTED_SUFFIX):
            # an earlier run stopped between the ledger update and the removal
            leftover = plain.with_name(plain.name.removesuffix(ENCRYPTED_SUFFIX))
            if not dry_run and leftover.is_file() and encrypted_with(plain, key):
                leftover.unlink()
            continue
        if not plain.is_file() or is_encrypted(plain):
            continue
        target = plain.with_name(plain.name + ENCRYPTED_SUFFIX)
        if dry_run:
            done.append(Encrypted(feed, plain, target))
            continue
        problem = _encrypt_file(plain, target, sha, key, paths)
        if problem:
            done.append(Encrypted(feed, plain, None, problem))
            continue
        con.execute(
            "UPDATE meta.file_ledger SET archive_path = ? WHERE archive_path = ?",
            [str(target), path_text],
        )
        plain.unlink()
        done.append(Encrypted(feed, plain, target))
    return done


def _encrypt_file(plain: Path, target: Path, sha: str, key: bytes, paths: Paths) -> str | None:
    """Encrypt ``plain`` to ``target`` atomically; a problem as one line, or None."""
    staging = paths.archive / ".incoming"
    staging.mkdir(parents=True, exist_ok=True)
    partial = staging / f"{uuid.uuid4().hex}.partial"
    digest = hashlib.sha256()
    try:
        with plain.open("rb") as source, partial.open("wb") as sink:
            writer = EncryptingWriter(sink, key)
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                writer.write(chunk)
            writer.close()
            sink.flush()
            os.fsync(sink.fileno())
        if digest.hexdigest() != sha:
            return (
                f"{plain.name} no longer has the sha256 the ledger recorded for it; left as it "
                "is: restore it from a backup"
            )
        os.replace(partial, target)
        return None
    finally:
        partial.unlink(missing_ok=True)


def copy_original(archived: Path, target: Path, paths: Paths) -> None:
    """Write the original bytes of an archived copy (plain or encrypted) to ``target``:
    a file handed back to its partner, or delivered again. ``paths``: the deployment
    whose key opens it."""
    with readable(archived, paths) as plain:
        shutil.copyfile(plain, target)
