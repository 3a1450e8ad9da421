"""Dagster definitions, one folder per integration."""
