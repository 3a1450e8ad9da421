"""Write-audit-publish: readers only ever see a checked, complete snapshot of the mart."""

from cim.publish.reader import connect_published, current_manifest
from cim.publish.snapshot import (
    PublishBlocked,
    RollbackError,
    list_snapshots,
    publish,
    record_blocked,
    remove_leftovers,
    rollback,
)

__all__ = [
    "PublishBlocked",
    "RollbackError",
    "connect_published",
    "current_manifest",
    "list_snapshots",
    "publish",
    "record_blocked",
    "remove_leftovers",
    "rollback",
]
