"""One exception family. Every message names the place: file, row, question or config key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SyncError(Exception):
    """Base of every error the toolkit reports to staff (exit code 1)."""


class ConfigError(SyncError):
    """The configuration file is missing, unreadable or invalid."""


class SourceError(SyncError):
    """A form source (Google Sheet or export file) cannot be read or does not match the config."""


class SigninError(SourceError):
    """The saved Google sign-in (auth = "user") is missing, expired, revoked or too narrow:
    `tpd-programs login` makes a new one."""


class WorkbookError(SyncError):
    """A workbook cannot be read or written."""


class LayoutError(SyncError):
    """Staff rearranged a workbook so that what they typed cannot be read back safely (a
    header row that cannot be found): the run stops rather than lose it."""


class TemplateError(SyncError):
    """A confirmation template is missing or uses an unknown field."""


class DeliveryError(SyncError):
    """The SMTP server refused a connection, a login or a message."""


class StateError(SyncError):
    """The state file is missing, empty, damaged or cannot be written."""


class RefusedError(DeliveryError):
    """The SMTP server refused some messages for good (exit code 1); the others were sent."""


class LockedError(SyncError):
    """Another run holds the lock (exit code 3)."""


class HeldError(SyncError):
    """Files another program holds open (Excel, a viewer, an antivirus scan) could not be
    replaced or deleted; `paths` names each one (exit code 1). Commands that write or delete
    many files do the others first."""

    def __init__(self, message: str, paths: Sequence[Path] = ()):
        super().__init__(message)
        self.paths = list(paths)


class WorkbookHeldError(WorkbookError, HeldError):
    """A workbook is open in another program, so it was left as it was."""
