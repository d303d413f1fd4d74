"""Vacation checks: routes, route sheets, the check log, retention and the purge command."""
