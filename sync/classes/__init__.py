"""Classes (PIP cohorts, TAP semesters): sessions, rosters and attendance."""
