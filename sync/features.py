"""The features that plug into the master workbook, in the order their hooks run
(`sync.hooks` documents the hooks). A new feature goes here, and nowhere in the sync.

The order is part of the output: columns appear on a program's sheet in this order, and the
fingerprint of the features' state (`tables`, `meta`) is read in it.
"""

from __future__ import annotations

from sync.attendance import Attendance, ClassColumn
from sync.checklog import CheckLog
from sync.confirmations import Confirmations
from sync.hooks import Feature
from sync.retention import Retention
from sync.summary import Summary

FEATURES: list[Feature] = [
    ClassColumn(),  # the Cohort / Semester column
    Attendance(),  # attendance ticked in <output>/rosters/*.xlsx; sessions attended
    Confirmations(),  # the Confirmation sent column; after a restore, what the master shows
    CheckLog(),  # check results typed into <output>/routes/*.xlsx; the Check Log sheet
    Retention(),  # purged vacation checks stay purged; an unfinished purge is finished first
    Summary(),  # the Summary sheet, first in the workbook
]
