"""The features that plug into the master workbook, in the order their hooks run
(`sync.master.hooks` documents the hooks). A new feature goes here, and nowhere in the sync.

The order is part of the output: columns appear on a program's sheet in this order, and the
fingerprint of the features' state (`tables`, `meta`) is read in it.
"""

from __future__ import annotations

from sync.classes.attendance import Attendance, ClassColumn
from sync.confirmations import Confirmations
from sync.master.hooks import Feature
from sync.summary import Summary
from sync.vacation.checklog import CheckLog
from sync.vacation.geocoding import Geocoding
from sync.vacation.retention import Retention

FEATURES: list[Feature] = [
    ClassColumn(),  # the Cohort / Semester column
    Attendance(),  # attendance ticked in <output>/rosters/*.xlsx; sessions attended
    Confirmations(),  # the Confirmation sent column; after a restore, what the master shows
    CheckLog(),  # check results typed into <output>/routes/*.xlsx; the Check Log sheet
    Retention(),  # purged vacation checks stay purged; an unfinished purge is finished first
    Geocoding(),  # Census coordinates of new vacation requests; Coordinates, Geocoder columns
    Summary(),  # the Summary sheet, first in the workbook
]
