"""Ingestion: one asset per feed contract, a triage asset and a landing-folder sensor."""
