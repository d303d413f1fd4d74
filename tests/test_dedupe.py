"""Deduplication: merge only when certain, ask staff when unsure, never compare all pairs."""

from __future__ import annotations

import datetime as dt

from sync.ingest import dedupe
from tests.helpers import count_calls

D = dt.date


def pip(first, last, dob=None, email="", phone="", street="", rid=None):
    return dedupe.person("pip", {"first_name": first, "last_name": last, "date_of_birth": dob,
                                 "email": email, "phone": phone, "street": street, "zip": "90503"}, rid)


def groups_of(result: dedupe.Grouping) -> list[list[int]]:
    return sorted(sorted(g) for g in result.groups)


def test_same_person_with_changed_email_case_and_nickname_is_merged():
    people = [
        pip("William", "Chen", D(1980, 1, 2), "w.chen@example.com", "+13105550101"),
        pip("Bill", "Chen", D(1980, 1, 2), "W.Chen@Example.com".casefold(), ""),
        pip("Will", "Chen", None, "", "+13105550101"),
    ]
    assert groups_of(dedupe.group("pip", people)) == [[0, 1, 2]]


def test_typo_in_name_with_same_contact_is_merged():
    people = [pip("Jennifer", "Alvarez", D(1990, 5, 5), "jen@example.com"),
              pip("Jennifer", "Alvares", D(1990, 5, 5), "jen@example.com")]
    assert groups_of(dedupe.group("pip", people)) == [[0, 1]]


def test_similar_names_same_birthdate_different_contacts_is_only_possible():
    people = [pip("Steven", "Park", D(1985, 3, 3), "steven@example.com", "+13105550111"),
              pip("Stephen", "Park", D(1985, 3, 3), "sp@example.org", "+13105550112")]
    result = dedupe.group("pip", people)
    assert groups_of(result) == [[0], [1]]
    assert [(i, j) for i, j, _ in result.maybe] == [(0, 1)]
    assert "same birthdate" in result.maybe[0][2]


def test_family_sharing_an_email_is_never_merged():
    """Guards "auto-merge never joins two different people": twins, one parent's email."""
    people = [pip("Maria", "Lopez", D(2000, 1, 1), "family@example.com"),
              pip("Sofia", "Lopez", D(2000, 1, 1), "family@example.com"),
              pip("Carlos", "Lopez", D(1970, 6, 1), "family@example.com")]
    result = dedupe.group("pip", people)
    assert groups_of(result) == [[0], [1], [2]]


def test_same_name_same_contact_but_different_birthdate_is_not_merged():
    people = [pip("John", "Smith", D(1950, 1, 1), "js@example.com"),
              pip("John", "Smith", D(1980, 1, 1), "js@example.com")]  # father and son
    assert groups_of(dedupe.group("pip", people)) == [[0], [1]]


def test_staff_decisions_merge_and_keep_apart():
    people = [pip("Steven", "Park", D(1985, 3, 3), "a@example.com", rid="PIP-00001"),
              pip("Stephen", "Park", D(1985, 3, 3), "b@example.com", rid="PIP-00002")]
    merged = dedupe.group("pip", people, merge=[("PIP-00001", "PIP-00002")])
    assert groups_of(merged) == [[0, 1]] and merged.maybe == []
    apart = dedupe.group("pip", people, apart=[("PIP-00001", "PIP-00002")])
    assert groups_of(apart) == [[0], [1]] and apart.maybe == []


def test_not_duplicate_decision_blocks_a_later_certain_merge():
    people = [pip("Ann", "Lee", D(1985, 3, 3), "a@example.com", rid="PIP-00001"),
              pip("Ann", "Lee", D(1985, 3, 3), "b@example.com", rid="PIP-00002"),
              pip("Ann", "Lee", D(1985, 3, 3), "a@example.com")]
    result = dedupe.group("pip", people, apart=[("PIP-00001", "PIP-00002")])
    assert [0, 2] in groups_of(result) and [1] in groups_of(result)


def test_tap_same_student_id_is_one_student():
    def tap(first, last, sid, school="South High School", dob=None):
        return dedupe.person("tap", {"student_first_name": first, "student_last_name": last,
                                     "student_id": sid, "school": school, "date_of_birth": dob})
    people = [tap("Ana", "Diaz", "1040012"), tap("Ana", "Díaz", "1040012 "), tap("Ben", "Ode", "1040012")]
    result = dedupe.group("tap", people)
    assert groups_of(result) == [[0, 1], [2]]
    assert result.maybe and "same student ID" in result.maybe[0][2]


def test_vsc_overlapping_trip_is_an_update_and_a_later_trip_is_new():
    def vsc(street, leave, back):
        return dedupe.person("vsc", {"first_name": "Kim", "last_name": "Ng", "street": street,
                                     "zip": "90503", "leave_date": leave, "return_date": back,
                                     "phone": "+13105550150"})
    people = [vsc("2450 Sepulveda Blvd Apt 12", D(2020, 12, 19), D(2020, 12, 27)),
              vsc("2450 Sepulveda Boulevard #12", D(2020, 12, 19), D(2021, 1, 2)),
              vsc("2450 Sepulveda Blvd Apt 12", D(2021, 3, 1), D(2021, 3, 9)),
              vsc("2450 Sepulveda Blvd Apt 14", D(2020, 12, 20), D(2020, 12, 27))]
    assert groups_of(dedupe.group("vsc", people)) == [[0, 1], [2], [3]]


def test_blocking_keeps_comparisons_near_linear(monkeypatch):
    """50,000 people must not be compared pairwise: count the comparisons made."""
    calls = count_calls(monkeypatch, dedupe, "compare")
    n = 20_000
    people = [pip(f"First{i}", f"Last{i % 5000}", D(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                  f"p{i}@example.com", f"+1310555{i:04d}"[:12]) for i in range(n)]
    dedupe.group("pip", people)
    assert calls.n < 20 * n


def test_a_strangers_request_for_the_same_home_is_never_merged():
    """Guards against a takeover: a stranger who knows an address and the dates away must not
    merge into (and so replace the contact details of) the resident's request."""
    def vsc(first, last, email, phone, back=None):
        return dedupe.person("vsc", {"first_name": first, "last_name": last, "email": email,
                                     "phone": phone, "street": "2450 Sepulveda Blvd Apt 12",
                                     "zip": "90503", "leave_date": D(2020, 12, 19),
                                     "return_date": back or D(2020, 12, 27)})
    resident = vsc("Kim", "Ng", "kim@example.com", "+13105550150")
    stranger = vsc("Eve", "Mallory", "eve@evil.example", "+13105550999", back=D(2021, 1, 2))
    result = dedupe.group("vsc", [resident, stranger])
    assert groups_of(result) == [[0], [1]]
    assert [evidence for _i, _j, evidence in result.maybe] == [
        "same address, overlapping dates, different person"]
    # the same household, recognised by its email or phone, still updates the request
    for same in (vsc("Someone", "Else", "kim@example.com", ""),
                 vsc("Kim", "Ng", "", "+13105550150")):
        assert groups_of(dedupe.group("vsc", [resident, same])) == [[0, 1]]
    # the name alone is on the mailbox: staff decide
    named = dedupe.group("vsc", [resident, vsc("Kim", "Ng", "other@example.com", "")])
    assert groups_of(named) == [[0], [1]]
    assert [evidence for _i, _j, evidence in named.maybe] == [
        "same address, overlapping dates and name, different email and phone"]
