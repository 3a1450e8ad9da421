"""Partner-feed ingestion: every received file archived, every row accounted for."""

from cim.ingest.loader import FeedRunner, FileOutcome, ingest_landing

__all__ = ["FeedRunner", "FileOutcome", "ingest_landing"]
