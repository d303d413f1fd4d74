"""Ingest: dates, normalising, validating and deduplicating the answers of one program."""
