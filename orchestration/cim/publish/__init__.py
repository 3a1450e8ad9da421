"""Write-audit-publish: readers only ever see a checked, complete snapshot of the mart."""

from cim.publish.reader import connect_published, current_manifest
from cim.publish.snapshot import (
    PublishBlocked,
    list_snapshots,
    publish,
    record_blocked,
    rollback,
)

__all__ = [
    "PublishBlocked",
    "connect_published",
    "current_manifest",
    "list_snapshots",
    "publish",
    "record_blocked",
    "rollback",
]
