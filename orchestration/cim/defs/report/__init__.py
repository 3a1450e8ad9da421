"""The quarterly council reports, written next to the snapshot they were read from."""
