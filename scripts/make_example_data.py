#!/usr/bin/env python3
"""Write the sample form exports in config/examples/ that config/example.toml reads.

    python scripts/make_example_data.py [--out config/examples]

The data is fixed (no randomness): running the script again writes the same bytes. Every
person, phone number (555-01xx) and email address (example.com/.org/.net) is fictional.

The files look like what staff download from Google:
  partners-in-policing-responses.csv   Google Forms "Download responses (.csv)", re-saved
                                       as "CSV UTF-8" (so it starts with a byte-order mark);
                                       timestamps like "2020/01/07 9:15:02 AM PST".
  teens-and-policing-responses.csv     Google Sheets "File > Download > .csv"; timestamps
                                       like "1/6/2020 14:22:05". The form asks "Phone Number"
                                       twice (student, then parent/guardian).
  vacation-check-responses.xlsx        Google Sheets "File > Download > .xlsx": timestamps
                                       and dates are real date cells; answers that Sheets
                                       reads as numbers (a ZIP code, a phone typed as
                                       digits) are number cells.

Some rows are messy on purpose (duplicates, ineligible applicants, bad dates, ...). Each
such row carries a note, and the script writes config/examples/README.md from the notes,
so the row numbers there always match the files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

TZ = ZoneInfo("America/Los_Angeles")
ROOT = Path(__file__).resolve().parent.parent
D = dt.date
T = dt.datetime


@dataclass(frozen=True)
class N:
    """What is deliberate about one row, for the README.

    `key` names the row so that other rows' notes can write "{key}" for its row number; a
    note with only a key is not listed. `outcome` is what the toolkit should do with the row
    overall: "accepted" (a record), "ineligible" (a record marked ineligible, with the
    reason), "merged" (into an earlier record), "review" (Needs Review: no record until
    fixed) or "pair" (a record that is also listed in Possible Duplicates).
    """

    problem: str = ""
    expected: str = ""
    outcome: str = "accepted"
    key: str | None = None


@dataclass(frozen=True)
class Note:
    row: int  # spreadsheet row number: the header is row 1, the first response row 2
    problem: str
    expected: str
    outcome: str


def resolve(notes: list[N | None]) -> list[Note]:
    """Number the notes by row and fill in "{key}" references to other rows."""
    rows = {n.key: i for i, n in enumerate(notes, start=2) if n is not None and n.key}
    out = []
    for i, n in enumerate(notes, start=2):
        if n is None:
            continue
        if n.problem:
            out.append(Note(i, n.problem.format(**rows), n.expected.format(**rows), n.outcome))
        elif n.outcome != "accepted":
            out.append(Note(i, "", "", n.outcome))  # counted, described by the other row
    return out


# =============================================================================================
# Partners in Policing
# =============================================================================================

PIP_HEADERS = [
    "Timestamp",
    "Email Address",
    "First Name",
    "Last Name",
    "Date of Birth",
    "Best phone number to reach you",
    "Home street address",
    "City",
    "ZIP Code",
    "What is your connection to Torrance? (check all that apply)",
    "If you belong to a Torrance church, school or organization, which one?",
    "Occupation and employer",
    "Emergency contact name",
    "Emergency contact phone",
    "Do you consent to a background check?",
    "How did you hear about the Partners in Policing program?",
]

# Checkbox options in the order the form lists them; Google joins the checked ones with ", ".
PIP_OPTIONS = {
    "L": "I live in Torrance",
    "W": "I work in Torrance",
    "S": "I attend school in Torrance",
    "C": "I belong to a church in Torrance",
    "O": "I belong to a Torrance civic organization (Kiwanis, Rotary, Chamber of Commerce, etc.)",
}

# (submitted, email, first, last, date of birth as typed, phone as typed, street, city, zip,
#  affiliations (option letters, or the text typed into "Other"), organization, occupation,
#  emergency contact, emergency phone, how they heard, note)
PIP_ROWS = [
    (T(2020, 1, 6, 8, 2, 17), "maria.gonzalez@example.com", "Maria", "Gonzalez", "4/12/1978",
     "(310) 555-0134", "2314 Carson St", "Torrance", "90501", "L", "",
     "Dental hygienist", "Luis Gonzalez", "(424) 555-0101", "A friend or family member",
     N(key="maria")),
    (T(2020, 1, 6, 9, 47, 51), "wchen@example.net", "William", "Chen", "11/3/1969",
     "310-555-0102", "3520 Maple Ave", "Torrance", "90503", "LW", "",
     "Accountant, self-employed", "Helen Chen", "424-555-0102", "City of Torrance website",
     N(key="william")),
    (T(2020, 1, 7, 9, 15, 2), "keiko.tanaka@example.org", "Keiko", "Tanaka", "7/22/1985",
     "310-555-0103", "1712 Amapola Ave", "Torrance", "90501", "LC",
     "Torrance First Presbyterian Church", "Software engineer", "Kenji Tanaka",
     "424-555-0103", "Church or organization", N(key="keiko")),
    (T(2020, 1, 7, 12, 31, 40), "dwashington@example.com", "Darnell", "Washington", "2/9/1974",
     "310-555-0104", "15820 S Normandie Ave", "Gardena", "90247", "W", "",
     "Store manager, Del Amo Fashion Center", "Tasha Washington", "424-555-0104", "Nextdoor",
     N("Lives in Gardena (ZIP 90247), works in Torrance.",
       "Accepted (work affiliation): a home address outside Torrance is fine for PIP.")),
    (T(2020, 1, 8, 19, 5, 33), "priya.patel@example.net", "Priya", "Patel", "5/30/1990",
     "(310) 555-0105", "4021 Spencer St", "Torrance", "90503", "LS", "El Camino College",
     "Nursing student", "Raj Patel", "424-555-0105", "Social media", None),
    (T(2020, 1, 9, 7, 44, 10), "RKIM62@EXAMPLE.COM", "ROBERT", "KIM", "8/14/1962",
     "310-555-0106", "2607 W 182ND ST", "TORRANCE", "90504", "LO",
     "ROTARY CLUB OF TORRANCE", "RETIRED", "SUSAN KIM", "424-555-0106",
     "Church or organization",
     N("Typed in ALL CAPS (name, email, address, contact).",
       "Accepted; name shown as Robert Kim, email compared without regard to case.")),
    (T(2020, 1, 9, 10, 12, 55), "Maria.Gonzalez@Example.com", "Maria", "Gonzalez", "4/12/1978",
     "310-555-0134", "2314 Carson St", "Torrance", "90501", "L", "",
     "Dental hygienist", "Luis Gonzalez", "(424) 555-0101", "A friend or family member",
     N("Same person as row {maria} applying again: email in different case, phone written "
       "310-555-0134 instead of (310) 555-0134.",
       "Auto-merged into row {maria}'s record (logged); the record keeps row {maria}'s "
       "submission time for first-come order.", "merged")),
    (T(2020, 1, 10, 21, 38, 2), "jennifer.alvarez@example.com", "jennifer", "alvarez",
     "1/28/1980", "310 555 0108", "1420 cabrillo ave", "torrance", "90501", "L", "",
     "teacher", "marco alvarez", "424 555 0108", "Social media",
     N("Typed all in lowercase; phones with spaces.",
       "Accepted; name shown as Jennifer Alvarez, phones normalized (+13105550108).")),
    (T(2020, 1, 11, 11, 20, 48), "sokafor@example.org", "Samuel", "Okafor", "1/17/1981",
     "310-555-0109", "21515 Madrona Ave", "Torrance", "90503", "LW", "",
     "Aerospace engineer", "Ngozi Okafor", "424-555-0109", "City of Torrance website", None),
    (T(2020, 1, 13, 8, 59, 31), " linda.moreno@example.com ", "  Linda ", " Moreno  ",
     " 10/5/1972", "310-555-0110 ", "  5318 Del Amo Blvd", "Torrance ", "90503 ", "L", "",
     "Office manager ", " Ray Moreno", "424-555-0110", "Nextdoor",
     N("Leading and trailing spaces in name, email, date, phone, address, ZIP.",
       "Accepted; spaces trimmed (Linda Moreno).")),
    (T(2020, 1, 13, 17, 26, 14), "tnguyen58@example.net", "Thomas", "Nguyen", "10/2/1958",
     "310-555-0111", "3905 W 190th St", "Torrance", "90504", "LO",
     "Kiwanis Club of Torrance", "Retired pharmacist", "Lan Nguyen", "424-555-0111",
     "Church or organization", None),
    (T(2020, 1, 14, 13, 3, 9), "ashley.brooks@example.com", "Ashley", "Brooks", "3/8/1995",
     "310.555.0112", "2209 Torrance Blvd Apt 4", "Torrance", "90501", "L", "", "Barista",
     "Denise Brooks", "424-555-0112", "Social media", None),
    (T(2020, 1, 15, 18, 47, 36), "marcus.johnson.example.com", "Marcus", "Johnson",
     "12/11/1983", "310-555-0113", "17215 Prairie Ave", "Torrance", "90504", "L", "",
     "Electrician", "Keisha Johnson", "424-555-0113", "A friend or family member",
     N("Bad email address (no @): marcus.johnson.example.com.",
       "Needs Review: email is not a valid address (no confirmation can be sent).",
       "review")),
    (T(2020, 1, 16, 9, 31, 22), "hyamamoto@example.org", "Hiroshi", "Yamamoto", "12/1/1949",
     "310-555-0114", "4512 Via Valmonte", "Torrance", "90505", "LC", "Torrance Buddhist Temple",
     "Retired", "Emiko Yamamoto", "424-555-0114", "Church or organization", None),
    (T(2020, 1, 17, 20, 15, 49), "fatima.rahman@example.com", "Fatima", "Rahman", "9/19/1988",
     "310-555-0115", "3030 Emerald St", "Torrance", "90503", "LW", "",
     "Pharmacist", "Imran Rahman", "424-555-0115", "City of Torrance website", None),
    (T(2020, 1, 21, 7, 58, 3), "kevin.obrien@example.net", "Kevin", "O'Brien", "6/25/1976",
     "310-555-0116", "1934 Arlington Ave", "Torrance", "90501", "L", "",
     "Firefighter, LA County", "Erin O'Brien", "424-555-0116", "A friend or family member",
     None),
    (T(2020, 1, 22, 12, 40, 27), "steven.park@example.com", "Steven", "Park", "4/4/1983",
     "310-555-0117", "3411 Sonoma St", "Torrance", "90503", "L", "", "Real estate agent",
     "Julie Park", "424-555-0117", "Nextdoor", N(outcome="pair", key="steven")),
    (T(2020, 1, 23, 19, 22, 50), "gracelee@example.org", "Grace", "Lee", "2/14/1992",
     "310-555-0118", "20600 Anza Ave Apt 210", "Torrance", "90503", "L", "", "Graphic designer",
     "Daniel Lee", "424-555-0118", "Social media", None),
    (T(2020, 1, 24, 10, 5, 16), "jramirez@example.com", "José", "Ramírez", "7/7/1967",
     "310-555-0119", "1125 W Carson St", "Torrance", "90502", "LW", "", "Machinist",
     "Rosa Ramírez", "424-555-0119", "A friend or family member",
     N("Accented name José Ramírez (non-ASCII text in UTF-8).",
       "Accepted; accents kept everywhere.")),
    (T(2020, 1, 27, 16, 44, 38), "emily.davis@example.com", "Emily", "Davis", "6/15/2002",
     "310-555-0120", "3801 Newton St", "Torrance", "90505", "LS", "El Camino College",
     "Student", "Karen Davis", "424-555-0120", "Social media",
     N("Born 6/15/2002: 17 on March 5, 2020, the first class of Spring 2020.",
       "Ineligible: a record whose Eligibility reads \"under 18 on the class start date "
       "2020-03-05\"; not placed in the class.", "ineligible")),
    (T(2020, 1, 28, 8, 13, 57), "wchen@example.net", "Bill", "Chen", "11/3/1969",
     "(310) 555-0102", "3520 Maple Ave", "Torrance", "90503", "LW", "",
     "Accountant, self-employed", "Helen Chen", "424-555-0102", "City of Torrance website",
     N("Same person as row {william} (William Chen) under his nickname Bill: same email, "
       "birth date, phone and address.",
       "Auto-merged into row {william}'s record (Bill = William).", "merged")),
    (T(2020, 1, 29, 14, 27, 11), "angela.r@example.com", "Angela", "", "3/21/1990",
     "310-555-0122", "1617 Post Ave", "Torrance", "90501", "L", "", "Paralegal",
     "Victor Russo", "424-555-0122", "Nextdoor",
     N("Last name left blank.", "Needs Review: last name missing.", "review")),
    (T(2020, 1, 30, 11, 49, 5), "omartinez@example.net", "Olivia", "Martinez", "2/30/1985",
     "310-555-0123", "4820 Del Amo Blvd", "Torrance", "90503", "L", "", "Nurse",
     "Alberto Martinez", "424-555-0123", "City of Torrance website",
     N("Impossible date of birth 2/30/1985.",
       "Needs Review: date of birth is not a real date (age cannot be checked).", "review")),
    (T(2020, 2, 3, 9, 2, 44), "ahmed.hassan@example.com", "Ahmed", "Hassan", "8/8/1979",
     "3105550124", "2919 Plaza del Amo Unit 301", "Torrance", "90503", "LW", "",
     "IT manager", "Mona Hassan", "4245550124", "Social media",
     N("Phones typed as digits only (3105550124).",
       "Accepted; phones normalized like every other format (+13105550124).")),
    (T(2020, 2, 4, 19, 33, 20), "rgoldberg@example.org", "Rachel", "Goldberg", "11/30/1965",
     "310-555-0125", "5204 Calle Mayor", "Torrance", "90505", "LO",
     '=HYPERLINK("http://example.com","Torrance Rotary")', "Attorney", "David Goldberg",
     "424-555-0125", "Church or organization",
     N("Organization answer starts with '=' (a spreadsheet formula).",
       "Accepted (civic affiliation); the answer is stored and shown as plain text, never "
       "evaluated as a formula.")),
    (T(2020, 2, 5, 12, 10, 9), "stephenpark83@example.net", "Stephen", "Park", "4/4/1983",
     "310-555-0126", "2724 W 235th St", "Torrance", "90505", "L", "", "Real estate agent",
     "Julie Park", "424-555-0126", "Nextdoor",
     N("Possible duplicate of row {steven} (Steven Park): similar name, same birth date, "
       "but a different email, phone and address.",
       "Not merged: both rows are records, and the pair is listed in Possible Duplicates "
       "for a staff decision.", "pair")),
    (T(2020, 2, 6, 18, 55, 42), "dfoster@example.com", "Diane", "Foster", "9/13/1970",
     "310-555-0127", "20511 Anza Ave\nApt 7", "Torrance", "90503", "L", "",
     "Librarian", "Paul Foster", "424-555-0127", "City of Torrance website",
     N("Street address answered on two lines (a quoted CSV field with a newline).",
       "Accepted; the address keeps both lines (20511 Anza Ave, Apt 7).")),
    (T(2020, 2, 7, 10, 37, 25), "keiko.tanaka@example.org", "Keiko", "Tanaka", "7/22/1985",
     "310-555-0103", "2240 Gramercy Ave", "Torrance", "90501", "LC",
     "Torrance First Presbyterian Church", "Software engineer", "Kenji Tanaka",
     "424-555-0103", "Church or organization",
     N("Same person as row {keiko} applying again after moving: new street address.",
       "Auto-merged into row {keiko}'s record; the address becomes 2240 Gramercy Ave (the "
       "latest answer wins), the submission time stays row {keiko}'s.", "merged")),
    (T(2020, 2, 10, 8, 21, 33), "cmendoza@example.net", "Carlos", "Mendoza", "5/16/1971",
     "310-555-0129", "1502 Engracia Ave", "Torrance", "90501", "LW", "",
     "Owner, Mendoza Auto Repair", "Lucia Mendoza", "424-555-0129", "Nextdoor", None),
    (T(2020, 2, 11, 15, 48, 7), "naomi.fujimoto@example.org", "Naomi", "Fujimoto",
     "December 24, 1986", "310-555-0130", "3224 W 230th St", "Torrance", "90505", "L", "",
     "Physical therapist", "Ken Fujimoto", "424-555-0130", "Social media",
     N("Date of birth written out: December 24, 1986.", "Accepted; read as 1986-12-24.")),
    (T(2020, 2, 12, 20, 2, 58), "brian.walsh@example.com", "Brian", "Walsh", "3/2/1977",
     "310-555-0131", "2045 Pacific Coast Hwy", "Lomita", "90717", "W", "",
     "Mechanic, Torrance auto dealership", "Megan Walsh", "424-555-0131",
     "A friend or family member", None),
    (T(2020, 2, 14, 9, 16, 40), "tamika.harris@example.net", "Tamika", "Harris", "7/30/1984",
     "310-555-0132", "1318 Beech Ave", "Torrance", "90501", "LC", "Torrance Community Church",
     "Social worker", "Andre Harris", "424-555-0132", "Church or organization", None),
    (T(2020, 2, 18, 13, 29, 51), "vsingh@example.org", "Vikram", "Singh", "1/9/1975",
     "310-555-0133", "4107 Spencer St", "Torrance", "90503", "L", "", "Civil engineer",
     "Harpreet Singh", "424-555-0133", "City of Torrance website", None),
    (T(2020, 2, 19, 19, 41, 26), "lauren.schmidt@example.com", "Lauren", "Schmidt",
     "04/02/1991", "310-555-0135", "19016 Prairie Ave", "Torrance", "90504", "L", "",
     "Teacher", "Greg Schmidt", "424-555-0135", "Social media", None),
    (T(2020, 2, 21, 11, 7, 14), "omar.haddad@example.net", "Omar", "Haddad", "10/10/1982",
     "310-555-0136", "1820 Vail Ave", "Redondo Beach", "90278",
     "I live in Redondo Beach and shop at Del Amo Fashion Center", "", "Sales representative",
     "Layla Haddad", "424-555-0136", "Social media",
     N("No Torrance affiliation: only an 'Other' answer (lives in Redondo Beach).",
       "Ineligible: no Torrance affiliation (live, work, school, church or civic "
       "organization); the typed answer is kept for staff.", "ineligible")),
    (T(2020, 2, 24, 8, 35, 2), "megan.sullivan@example.com", "Megan", "Sullivan", "8/19/1993",
     "310-555-0137", "22529 Madrona Ave", "Torrance", "90505", "L", "", "Dental assistant",
     "Patrick Sullivan", "424-555-0137", "Nextdoor", None),
    (T(2020, 2, 25, 17, 52, 19), "daniel.ortiz@example.org", "Daniel", "Ortiz", "2/2/1989",
     "310-555-0138", "2111 W 169th St", "Torrance", "90504", "LW", "", "Warehouse supervisor",
     "Ana Ortiz", "424-555-0138", "A friend or family member", None),
    (T(2020, 2, 27, 12, 18, 45), "sofia.reyes@example.com", "Sofia", "Reyes", "6/6/1980",
     "310-555-0139", "1430 El Prado Ave", "Torrance", "90501", "LWO",
     "Torrance Area Chamber of Commerce", "Owner, Reyes Bakery", "Miguel Reyes",
     "424-555-0139", "Church or organization",
     N("Three affiliations, including the civic option whose own text contains commas.",
       "Accepted; affiliations live, work, civic (the option is not split at its commas).")),
    (T(2020, 3, 2, 9, 40, 33), "ryan.mitchell@example.net", "Ryan", "Mitchell", "11/11/1987",
     "310-555-0140", "3708 W 176th St", "Torrance", "90504", "L", "", "Project manager",
     "Amy Mitchell", "424-555-0140", "City of Torrance website", None),
    (T(2020, 3, 3, 20, 26, 8), "eunji.choi@example.org", "Eun-ji", "Choi", "5/5/1994",
     "310-555-0141", "17624 Yukon Ave", "Torrance", "90504", "LS", "El Camino College",
     "Graduate student", "Min-ho Choi", "424-555-0141", "Social media", None),
    (T(2020, 3, 4, 23, 52, 40), "pwong@example.com", "Patricia", "Wong", "9/27/1968",
     "310-555-0142", "4626 Paseo de las Tortugas", "Torrance", "90505", "L", "",
     "Bookkeeper", "Gordon Wong", "424-555-0142", "Nextdoor",
     N("Applied at 11:52 PM on March 4, the last day of Spring 2020 registration (already "
       "March 5 in UTC).",
       "Spring 2020 cohort: registration dates are compared in the department's time zone.")),
    (T(2020, 4, 14, 10, 3, 27), "ghall@example.net", "Gregory", "Hall", "1/25/1973",
     "310-555-0143", "1706 Cota Ave", "Torrance", "90501", "L", "", "Insurance agent",
     "Sandra Hall", "424-555-0143", "City of Torrance website",
     N("Applied April 14, 2020: after Spring 2020 registration closed, before Fall 2020 "
       "registration opened.",
       "Placed in the next class to start, Fall 2020; staff can change it with the Cohort "
       "override.")),
    (T(2020, 6, 1, 7, 30, 12), "jessica.turner@example.com", "Jessica", "Turner", "3/3/1986",
     "310-555-0144", "5102 Newton St", "Torrance", "90505", "L", "", "Veterinarian",
     "Mark Turner", "424-555-0144", "A friend or family member",
     N("First Fall 2020 application (June 1, registration opening day; PDT timestamp).",
       "Fall 2020 cohort.")),
    (T(2020, 6, 15, 12, 45, 56), "abaptiste@example.org", "Andre", "Baptiste", "7/19/1979",
     "310-555-0145", "2800 Plaza del Amo Unit 118", "Torrance", "90503", "LW", "",
     "Chef", "Marie Baptiste", "424-555-0145", "Social media", None),
    (T(2020, 7, 8, 18, 20, 31), "mei.lin@example.net", "Mei", "Lin", "10/31/1990",
     "310-555-0146", "21119 Kent Ave", "Torrance", "90503", "L", "", "Pharmacist",
     "Wen Lin", "424-555-0146", "City of Torrance website", None),
    (T(2020, 8, 20, 9, 11, 48), "cyoung@example.com", "Christopher", "Young", "2/28/1970",
     "310-555-0148", "3120 W 186th St", "Torrance", "90504", "LO", "Kiwanis Club of Torrance",
     "Contractor", "Beth Young", "424-555-0148", "Church or organization", None),
    (T(2020, 9, 8, 21, 4, 15), "noah.friedman@example.org", "Noah", "Friedman", "12/12/1996",
     "310-555-0149", "20930 Amie Ave", "Torrance", "90503", "L", "", "Software developer",
     "Ruth Friedman", "424-555-0149", "Social media", None),
]


def forms_timestamp(when: dt.datetime) -> str:
    """A Google Forms download timestamp: 2020/01/07 9:15:02 AM PST."""
    local = when.replace(tzinfo=TZ)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{local:%Y/%m/%d} {hour}:{local:%M:%S} {half} {local.tzname()}"


def pip_table() -> tuple[list[list[str]], list[Note]]:
    rows = []
    for r in PIP_ROWS:
        (when, email, first, last, dob, phone, street, city, zip_code, affil, org, occupation,
         ec_name, ec_phone, heard, _note) = r
        if re.fullmatch(r"[LWSCO]+", affil):
            affil = ", ".join(PIP_OPTIONS[k] for k in "LWSCO" if k in affil)
        rows.append([
            forms_timestamp(when), email, first, last, dob, phone, street, city, zip_code,
            affil, org, occupation, ec_name, ec_phone, "Yes", heard,
        ])
    return rows, resolve([r[-1] for r in PIP_ROWS])


# =============================================================================================
# Teens and Policing
# =============================================================================================

TAP_HEADERS = [
    "Timestamp",
    "Email Address",
    "Counselor Name",
    "High School",
    "Semester",
    "Student First Name",
    "Student Last Name",
    "Student ID Number",
    "Grade (11 or 12)",
    "Student Date of Birth",
    "Student Email",
    "Phone Number",  # the student's
    "Parent/Guardian Name",
    "Phone Number",  # the parent's or guardian's: read as "Phone Number (2)"
    "Parent/Guardian Email",
    "Parent/Guardian consent: I give permission for my student to participate",
    "Why are you nominating this student?",
]

COUNSELORS = {
    "THS": ("lwhitfield@example.org", "Laura Whitfield", "Torrance High School"),
    "NHS": ("despinoza@example.org", "David Espinoza", "North High School"),
    "SHS": ("kyoshida@example.org", "Karen Yoshida", "South High School"),
    "SHS2": ("rtsai@example.org", "Raymond Tsai", "South High School"),
    "WHS": ("mokonkwo@example.org", "Michael Okonkwo", "West High School"),
    "SHY": ("dcarter@example.org", "Denise Carter", "Shery High School"),
    "RUHS": ("pjensen@example.net", "Paula Jensen", "Redondo Union High School"),
}

# (submitted, counselor, semester, first, last, student ID, grade, date of birth,
#  student email, student phone, guardian, guardian phone, guardian email, consent,
#  counselor's reason, note)
TAP_ROWS = [
    (T(2020, 1, 6, 14, 22, 5), "THS", "Spring 2020", "Isabella", "Ramos", "1045821", "11",
     D(2003, 5, 14), "iramos03@example.net", "310-555-0151", "Carmen Ramos", "424-555-0151",
     "carmen.ramos@example.com", "Yes", "Wants to study criminal justice.", None),
    (T(2020, 1, 6, 15, 3, 41), "THS", "Spring 2020", "Ethan", "Nakamura", "1039476", "12",
     D(2002, 9, 2), "enakamura@example.net", "310-555-0152", "Yuki Nakamura", "424-555-0152",
     "yuki.nakamura@example.com", "Yes", "Student body vice president.", None),
    (T(2020, 1, 7, 9, 48, 19), "NHS", "Spring 2020", "Aaliyah", "Jackson", "1047733", "11",
     D(2003, 2, 19), "ajackson@example.net", "310-555-0153", "Monique Jackson",
     "424-555-0153", "monique.jackson@example.com", "Yes", "Explorer post applicant.", None),
    (T(2020, 1, 7, 10, 2, 57), "NHS", "Spring 2020", "Lucas", "Ferreira", "1036620", "12",
     D(2001, 11, 8), "lferreira@example.net", "310-555-0154", "Paulo Ferreira",
     "424-555-0154", "paulo.ferreira@example.com", "Yes", "Interested in forensics.", None),
    (T(2020, 1, 8, 13, 15, 30), "SHS", "Spring 2020", "Chloe", "Kim", "1048102", "11",
     D(2003, 7, 7), "chloe.kim@example.net", "310-555-0155", "Grace Kim", "424-555-0155",
     "grace.kim@example.com", "Yes", "Strong leader in ASB.", None),
    (T(2020, 1, 8, 13, 22, 48), "SHS", "Spring 2020", "Mateo", "Hernandez", "1040012", "12",
     D(2002, 3, 30), "mhernandez@example.net", "310-555-0156", "Elena Hernandez",
     "424-555-0156", "elena.hernandez@example.com", "Yes",
     "Wants to join the military police.", N(key="mateo")),
    (T(2020, 1, 9, 11, 40, 2), "WHS", "Spring 2020", "Zoe", "Campbell", "1046518", "11",
     D(2003, 10, 21), "zcampbell@example.net", "310-555-0157", "Heather Campbell",
     "424-555-0157", "heather.campbell@example.com", "Yes", "Volunteer at the library.", None),
    (T(2020, 1, 9, 11, 52, 36), "WHS", "Spring 2020", "Jayden", "Wu", "1038841", "12",
     D(2002, 1, 5), "jwu@example.net", "310-555-0158", "Lily Wu", "424-555-0158",
     "lily.wu@example.com", "Yes", "Asked about the program at college night.", None),
    (T(2020, 1, 10, 8, 30, 14), "SHY", "Spring 2020", "Destiny", "Brown", "0412876", "12",
     D(2002, 6, 12), "dbrown@example.net", "310-555-0159", "Angela Brown", "424-555-0159",
     "angela.brown@example.com", "Yes", "Back on track to graduate in June.",
     N("Student ID with a leading zero (0412876).",
       "Accepted; the ID stays the text 0412876 (never the number 412876).")),
    (T(2020, 1, 13, 14, 5, 27), "THS", "Spring 2020", "Aarav", "Sharma", "1052290", "10",
     D(2004, 8, 3), "asharma@example.net", "310-555-0160", "Neha Sharma", "424-555-0160",
     "neha.sharma@example.com", "Yes", "Mature for his age; very interested.",
     N("Grade 10 student (the program is for grades 11 and 12).",
       "Ineligible: a record whose Eligibility gives the reason (grades 11 and 12 only).",
       "ineligible")),
    (T(2020, 1, 14, 10, 11, 3), "RUHS", "Spring 2020", "Sophia", "Alvarado", "2203117", "11",
     D(2003, 4, 25), "salvarado@example.net", "310-555-0161", "Ricardo Alvarado",
     "424-555-0161", "ricardo.alvarado@example.com", "Yes",
     "Lives just outside Torrance.",
     N("School not in TUSD: Redondo Union High School (typed into 'Other').",
       "Ineligible: not one of the configured Torrance Unified high schools.",
       "ineligible")),
    (T(2020, 1, 15, 9, 36, 50), "NHS", "Spring 2020", "Tyler", "Nguyen", "1047950", "11",
     D(2003, 12, 1), "tnguyen@example.net", "310-555-0162", "Linh Nguyen", "424-555-0162",
     "linh.nguyen@example.com", "", "Parent form still to come back.",
     N("Parent/guardian consent not given (answer blank).",
       "Needs Review: guardian consent is required before a minor is enrolled.", "review")),
    (T(2020, 1, 16, 15, 44, 12), "SHS2", "Spring 2020", "Mateo", "Hernandez", "1040012", "12",
     D(2002, 3, 30), "mhernandez@example.net", "(310) 555-0156", "Elena Hernandez",
     "(424) 555-0156", "elena.hernandez@example.com", "Yes", "Recommended by his coach.",
     N("Same student as row {mateo} (same student ID 1040012) nominated again by a second "
       "South High counselor.",
       "Auto-merged into row {mateo}'s record (same student ID, name and birth date): one "
       "seat, not two.", "merged")),
    (T(2020, 1, 17, 12, 1, 39), "SHS", "Spring 2020", "Hannah", "Schultz", "1037105", "12",
     D(2002, 5, 9), "hschultz@example.net", "310-555-0163", "Eric Schultz", "424-555-0163",
     "eric.schultz@example.com", "Yes", "Peer mentor.", None),
    (T(2020, 1, 21, 10, 26, 45), "WHS", "Spring 2020", "Xavier", "Bell", "1049321", "11",
     D(2003, 9, 14), "xbell@example.net", "310-555-0164", "Tanya Bell", "424-555-0164",
     "tanya.bell@example.com", "Yes", "Interested in becoming a dispatcher.", None),
    (T(2020, 1, 22, 13, 58, 20), "THS", "Spring 2020", "Leilani", "Kahale", "1038207", "12",
     D(2002, 2, 27), "lkahale@example.net", "310-555-0165", "Malia Kahale", "424-555-0165",
     "malia.kahale@example.com", "Yes", "Honor roll.", None),
    (T(2020, 1, 24, 9, 19, 8), "SHY", "Spring 2020", "Omar", "Farouk", "0421590", "11",
     D(2003, 6, 30), "ofarouk@example.net", "310-555-0166", "Samira Farouk", "424-555-0166",
     "samira.farouk@example.com", "Yes", "Good attendance this year.", None),
    (T(2020, 1, 28, 16, 7, 55), "WHS", "Spring 2020", "Gabriela", "Torres", "1039958", "12",
     D(2002, 8, 18), "gtorres@example.net", "310-555-0167", "Rosa Torres", "424-555-0167",
     "rosa.torres@example.com", "Yes",
     "Gabriela wants to be a police officer.\nShe works after school on Tuesdays until 5:30, "
     "so she may arrive a few minutes late.",
     N("Counselor's reason answered on two lines (a quoted CSV field with a newline); that "
       "question is not mapped.",
       "Accepted; the unmapped answer is only kept with the raw response.")),
    (T(2020, 8, 17, 10, 14, 2), "THS", "Fall 2020", "Ava", "Mitchell", "1044417", "12",
     D(2003, 1, 22), "amitchell@example.net", "310-555-0168", "Sarah Mitchell",
     "424-555-0168", "sarah.mitchell@example.com", "Yes", "Debate team captain.", None),
    (T(2020, 8, 18, 11, 45, 37), "NHS", "Fall 2020", "Diego", "Castillo", "1055082", "11",
     D(2004, 4, 11), "dcastillo@example.net", "310-555-0169", "Maria Castillo",
     "424-555-0169", "maria.castillo@example.com", "Yes", "Interested in the K9 unit.", None),
    (T(2020, 8, 19, 14, 30, 21), "SHS", "Fall 2020", "Maya", "Robinson", "1054736", "11",
     D(2004, 2, 3), "mrobinson@example.net", "310-555-0170", "Keith Robinson",
     "424-555-0170", "keith.robinson@example.com", "Yes", "Volunteers with Special Olympics.",
     None),
    (T(2020, 8, 24, 9, 3, 58), "WHS", "Fall 2020", "Kai", "Yamada", "1043390", "12",
     D(2003, 6, 6), "kyamada@example.net", "310-555-0171", "Naoko Yamada", "424-555-0171",
     "naoko.yamada@example.com", "Yes", "Eagle Scout.", None),
    (T(2020, 8, 25, 13, 17, 44), "SHY", "Fall 2020", "Jasmine", "Ali", "0433018", "12",
     D(2002, 11, 19), "jali@example.net", "310-555-0172", "Hana Ali", "424-555-0172",
     "hana.ali@example.com", "Yes", "Wants to work in victim services.", None),
    (T(2020, 8, 27, 10, 50, 9), "THS", "Fall 2020", "Noah", "Sato", "1056611", "11",
     D(2004, 7, 29), "nsato@example.net", "310-555-0173", "Emi Sato", "424-555-0173",
     "emi.sato@example.com", "Yes", "Asked his counselor about the program.", None),
    (T(2020, 8, 31, 15, 25, 33), "NHS", "Fall 2020", "Elena", "Petrova", "1042268", "12",
     D(2003, 3, 16), "epetrova@example.net", "310-555-0174", "Irina Petrova", "424-555-0174",
     "irina.petrova@example.com", "Yes", "Top of her class in civics.", None),
    (T(2020, 9, 2, 8, 41, 16), "SHS", "Fall 2020", "Julian", "Brooks", "1043985", "12",
     D(2003, 5, 1), "jbrooks@example.net", "310-555-0175", "Tracy Brooks", "424-555-0175",
     "tracy.brooks@example.com", "Yes", "Team captain, cross country.", None),
    (T(2020, 9, 3, 12, 9, 27), "WHS", "Fall 2020", "Amara", "Okeke", "1055547", "11",
     D(2004, 10, 8), "aokeke@example.net", "310-555-0176", "Chidi Okeke", "424-555-0176",
     "chidi.okeke@example.com", "Yes", "Wants to study law.", None),
    (T(2020, 9, 8, 14, 52, 40), "NHS", "Fall 2020", "BRANDON", "LEE", "1056093", "11",
     D(2004, 1, 13), "BLEE@EXAMPLE.NET", "310-555-0177", "JAMES LEE", "424-555-0177",
     "JAMES.LEE@EXAMPLE.COM", "Yes", "Recommended by his coach.",
     N("Student and parent names and emails typed in ALL CAPS.",
       "Accepted; names shown as Brandon Lee / James Lee.")),
    (T(2020, 9, 10, 10, 33, 12), "THS", "Fall 2020", "Sara", "Haile", "1042750", "12",
     D(2003, 8, 24), "shaile@example.net", "310-555-0178", "Meron Haile", "424-555-0178",
     "meron.haile@example.com", "Yes", "Volunteers at the Torrance Public Library.", None),
]


def sheets_timestamp(when: dt.datetime) -> str:
    """A Google Sheets CSV timestamp: 1/6/2020 14:22:05."""
    return f"{when.month}/{when.day}/{when.year} {when.hour}:{when:%M:%S}"


def sheets_date(day: dt.date) -> str:
    """A Google Sheets CSV date: 5/14/2003."""
    return f"{day.month}/{day.day}/{day.year}"


def tap_table() -> tuple[list[list[str]], list[Note]]:
    rows = []
    for r in TAP_ROWS:
        (when, counselor, semester, first, last, student_id, grade, dob, s_email, s_phone,
         guardian, g_phone, g_email, consent, reason, _note) = r
        c_email, c_name, school = COUNSELORS[counselor]
        rows.append([
            sheets_timestamp(when), c_email, c_name, school, semester, first, last, student_id,
            grade, sheets_date(dob), s_email, s_phone, guardian, g_phone, g_email, consent,
            reason,
        ])
    return rows, resolve([r[-1] for r in TAP_ROWS])


# =============================================================================================
# Vacation Security Check
# =============================================================================================

VSC_HEADERS = [
    "Timestamp",
    "Email Address",
    "Resident First Name",
    "Resident Last Name",
    "Best phone number to reach you while you are away",
    "Street address of the residence (include apartment or unit number)",
    "City",
    "ZIP Code",
    "Date leaving",
    "Date returning",
    "Local emergency contact / key holder",
    "Local emergency contact phone",
    "Does your emergency contact have a key? If not, who has a key?",
    "Alarm company (name and phone)",
    "Vehicles that will be parked at the residence (make, model, color, plate)",
    "Lights on timers? Which rooms?",
    "Pets in the home",
    "Persons authorized to be at the residence (house sitter, gardener, pool service)",
    "Special instructions for the officers",
]

# Values as Sheets stores them: an int where the answer was all digits (ZIP codes, phones
# typed without punctuation), a date for the date questions.
# (submitted, email, first, last, phone, street, city, zip, leaving, returning,
#  emergency contact, contact phone, key, alarm, vehicles, lights, pets, authorized,
#  instructions, note)
VSC_ROWS = [
    (T(2020, 11, 2, 9, 14, 33), "lhoffman@example.com", "Linda", "Hoffman", 3105550181,
     "4630 Via Valmonte", "Torrance", 90505, D(2020, 11, 25), D(2020, 11, 29),
     "Carol Jensen (neighbor)", "424-555-0181", "Yes", "ADT, (800) 555-0199",
     "White Toyota Camry, 8ABC123, in the garage", "Living room, 6 pm to 11 pm", "None",
     "None", "",
     N("Phone answered as digits, so Sheets stored the number 3105550181; ZIP also a number "
       "(as in most rows).",
       "Accepted; phone and ZIP read as text (+13105550181, 90505). Back November 29: a check "
       "typed into the November 27 route sheet, then a run as of November 30, puts her "
       "welcome-home letter listing it in the outbox.", key="linda")),
    (T(2020, 11, 9, 18, 3, 47), "gthompson@example.net", "Gerald", "Thompson", "310-555-0182",
     "3905 W 182nd St", "Torrance", 90504, D(2020, 11, 16), D(2020, 11, 24),
     "Janet Thompson (daughter)", "424-555-0182", "Yes", "None",
     "Silver Honda CR-V, 7XYZ482, in the driveway", "Bedroom and kitchen", "None",
     "Gardener on Mondays", "",
     N("Away November 16-24.",
       "Accepted. Back November 24: as of November 25 his welcome-home letter is due, and as "
       "no check was logged for his home it says so kindly.")),
    (T(2020, 11, 16, 12, 40, 5), "ana.ruiz@example.org", "Ana", "Ruiz", "310-555-0183",
     "1420 Post Ave", "Torrance", 90501, D(2020, 11, 26), D(2020, 11, 29),
     "Pedro Ruiz (brother)", 4245550183, "Yes", "Brinks Home, (800) 555-0188",
     "None", "No", "One cat, indoors (a neighbor feeds her daily)", "Pedro Ruiz", "", None),
    (T(2020, 12, 1, 10, 22, 10), "hbennett@example.com", "Harold", "Bennett", "310-555-0184",
     "5230 Calle Mayor", "Torrance", 90505, D(2020, 12, 5), D(2021, 2, 15),
     "Doris Kline (neighbor)", "424-555-0184", "Yes", "ADT, (800) 555-0199",
     "Blue Buick LeSabre, 3DEF921, in the garage", "Yes, living room and porch light",
     "None", "Pool service on Thursdays", "We spend the winter in Arizona every year.",
     N("Away December 5, 2020 to February 15, 2021: 72 days, more than the 30-day maximum.",
       "Ineligible: away longer than max_days (30); no checks scheduled, staff call the "
       "resident.", "ineligible")),
    (T(2020, 12, 2, 19, 30, 54), "samantha.reed@example.net", "Samantha", "Reed",
     "310-555-0185", "21802 Madrona Ave", "Torrance", 90503, D(2020, 12, 18), D(2020, 12, 27),
     "Jordan Ellis", "424-555-0185", "Yes", "SimpliSafe, (888) 555-0107",
     "Red Mazda 3, 8GHI305, in the driveway", "Upstairs bedroom", "None", "None", "", None),
    (T(2020, 12, 3, 8, 5, 27), "jwright@example.com", "Jamal", "Wright", "310-555-0186",
     "1125 W 223rd St", "Torrance", 90502, D(2020, 12, 19), D(2020, 12, 26),
     "Denise Wright (sister)", "424-555-0186", "Yes", "None", "None", "Front room lamp",
     "None", "None", "", None),
    (T(2020, 12, 4, 14, 48, 31), "mjlee@example.org", "Min-jun", "Lee", "310-555-0187",
     "2450 Sepulveda Blvd Apt 12", "Torrance", 90501, D(2020, 12, 19), D(2020, 12, 27),
     "Soo-ah Park (building manager)", "424-555-0187", "Yes", "None",
     "Gray Hyundai Elantra, 8JKL774, space 12 in the carport", "No", "None", "None", "",
     N("First request for 2450 Sepulveda Blvd Apt 12 (December 19-27); updated in row "
       "{minjun_update}.",
       "A record; its return date becomes 2021-01-02 after row {minjun_update}.",
       key="minjun")),
    (T(2020, 12, 5, 11, 9, 42), "olga.ivanova@example.net", "Olga", "Ivanova", "310-555-0188",
     "615 Esplanade Apt 3", "Redondo Beach", 90277, D(2020, 12, 20), D(2020, 12, 30),
     "Sergei Ivanov", "424-555-0188", "Yes", "None", "None", "No", "None", "None", "",
     N("Residence in Redondo Beach (ZIP 90277), outside Torrance city limits.",
       "Ineligible: outside Torrance city limits (ZIP not in department.zip_codes); no "
       "checks scheduled.", "ineligible")),
    (T(2020, 12, 7, 16, 33, 18), "pmurphy@example.com", "Patrick", "Murphy", "310-555-0189",
     "18802 Prairie Ave", "Torrance", 90504, D(2020, 12, 20), D(2020, 12, 3),
     "Colleen Murphy", "424-555-0189", "Yes", "Vivint, (800) 555-0145",
     "Black Ford F-150, 45678K1, in the driveway", "Kitchen", "None", "None", "",
     N("Returning December 3 is before leaving December 20 (probably meant January 3).",
       "Needs Review: return date before leave date.", "review")),
    (T(2020, 12, 8, 9, 57, 2), "rfeldman@example.org", "Ruth", "Feldman", "310-555-0190",
     "2811 W 235th St", "Torrance", 90505, D(2020, 12, 21), D(2021, 1, 2),
     "Miriam Katz", "424-555-0190", "Yes", "ADT, (800) 555-0199", "None",
     "Living room and den", "None", "House sitter checks in daily: Ben Katz", "", None),
    (T(2020, 12, 9, 20, 14, 36), "kwatanabe@example.net", "Kenji", "Watanabe", "310-555-0191",
     "18520 Hawthorne Blvd #5", "Torrance", 90504, D(2020, 12, 21), D(2020, 12, 28),
     "Aya Watanabe", "424-555-0191", "Yes", "None", "None", "No", "None", "None", "",
     N("ZIP 90504 (Beat 1 by ZIP code) but at 18520 Hawthorne Blvd, inside Beat 2's street "
       "range (Hawthorne Blvd 17000-19999).",
       "Accepted; routed on Beat 2 - West Torrance (the street range wins over the ZIP "
       "code).")),
    (T(2020, 12, 10, 7, 41, 15), "lcoleman@example.com", "Lakisha", "Coleman", "310-555-0192",
     "1410 Beech Ave", "Torrance", 90501, D(2020, 12, 22), D(2020, 12, 28),
     "Tonya Reed", "424-555-0192", "Yes", "None",
     "Silver Nissan Altima, 8MNO219, on the street", "Porch light", "Two dogs (boarded)",
     "None",
     "Back gate latch is broken; it is tied shut with wire.\n"
     "Please also check the garage side door.",
     N("Special instructions answered on two lines (a cell with a line break).",
       "Accepted; both lines printed on the route sheet.")),
    (T(2020, 12, 10, 18, 26, 49), "MJLee@Example.org", "Min-jun", "Lee", "(310) 555-0187",
     "2450 Sepulveda Blvd #12", "Torrance", 90501, D(2020, 12, 19), D(2021, 1, 2),
     "Soo-ah Park (building manager)", "424-555-0187", "Yes", "None",
     "Gray Hyundai Elantra, 8JKL774, space 12 in the carport", "No", "None", "None",
     "Staying a week longer than planned.",
     N("Same residence as row {minjun} written '#12' instead of 'Apt 12'; the dates overlap "
       "(now December 19 to January 2).",
       "An update of row {minjun}'s request: merged into that record, return date "
       "2021-01-02.", "merged", key="minjun_update")),
    (T(2020, 12, 11, 13, 2, 24), "dev.malhotra@example.net", "Dev", "Malhotra", "310-555-0193",
     "2450 Sepulveda Blvd Apt 14", "Torrance", 90501, D(2020, 12, 20), D(2020, 12, 26),
     "Asha Malhotra", "424-555-0193", "Yes", "None", "None", "No", "None", "None", "",
     N("Same building as rows {minjun} and {minjun_update} but another unit (Apt 14) and "
       "resident; the dates overlap.",
       "A separate record: different units are different residences.")),
    (T(2020, 12, 12, 10, 45, 51), "tsantos@example.com", "Teresa", "Santos", "310-555-0194",
     "4215 Spencer St", "Torrance", "90503-2817", D(2020, 12, 23), D(2020, 12, 31),
     "Manuel Santos", "424-555-0194", "Yes", "Frontpoint, (877) 555-0132",
     "White Tesla Model 3, 8PQR660, in the garage", "Yes, three rooms on timers",
     "None", "None", "",
     N("ZIP+4 answer 90503-2817 (a text cell, not a number).", "Accepted; ZIP read as 90503.")),
    (T(2020, 12, 13, 15, 20, 7), "fdimarco@example.org", "Frank", "DiMarco", 3105550195,
     "5321 Newton St", "Torrance", 90505, D(2020, 12, 24), D(2021, 1, 3),
     "Gina DiMarco", 4245550195, "Yes", "ADT, (800) 555-0199",
     "Green Jeep Wrangler, 6STU118, in the driveway", "Kitchen and hallway", "None",
     "Gardener on Fridays", "== Side gate is locked. Please check the back slider. ==",
     N("Special instructions start with '=' (look like a formula); both phones are numbers.",
       "Accepted; the text is stored and printed as typed, never evaluated.")),
    (T(2020, 12, 14, 8, 12, 39), "yprice@example.net", "Yolanda", "Price", "310-555-0196",
     "1212 W 218th St", "Torrance", 90502, D(2020, 12, 18), D(2020, 12, 20),
     "Marcus Price", "424-555-0196", "Yes", "None", "None", "No", "None", "None", "", None),
    (T(2020, 12, 15, 11, 31, 26), "amehta@example.com", "Arjun", "Mehta", "310-555-0197",
     "21004 Amie Ave", "Torrance", 90503, D(2020, 12, 24), D(2020, 12, 27),
     "Priya Mehta", "424-555-0197", "Yes", "None", "Black BMW X3, 8VWX552, in the garage",
     "Living room", 0, "None", "",
     N("'Pets in the home' answered 0, which Sheets stored as a number.",
       "Accepted; shown as the text 0.")),
    (T(2020, 12, 15, 19, 48, 3), "nkowalski@example.org", "Nancy", "Kowalski", "310-555-0198",
     "17711 Yukon Ave", "Torrance", 90504, D(2020, 12, 19), D(2021, 1, 1),
     "Stan Kowalski", "424-555-0198", "Yes", "Brinks Home, (800) 555-0188", "None",
     "Bedroom lamp, 7 pm to midnight", "Fish tank (automatic feeder)", "None", "", None),
    (T(2020, 12, 16, 9, 6, 58), "lcontreras@example.net", "Luis", "Contreras",
     "+1 310 555 0199", "1617 Engracia Ave", "Torrance", 90501, D(2020, 12, 23),
     D(2020, 12, 30), "Marta Contreras", "424-555-0199", "Yes", "None",
     "Red Chevy Silverado, 7YZA913, on the street", "No", "None", "None", "",
     N("Phone written in international form +1 310 555 0199 (starts with '+').",
       "Accepted; phone normalized and stored as text, never a formula.")),
    (T(2020, 12, 17, 14, 39, 21), "bhughes@example.com", "Brenda", "Hughes", "310-555-0170",
     "5119 Calle Mayor", "Torrance", 90505, D(2020, 12, 26), D(2021, 1, 4),
     "Tom Hughes", "424-555-0170", "Yes", "ADT, (800) 555-0199",
     "White Lexus RX, 8BCD447, in the garage", "Living room and bedroom", "None",
     "Pool service on Wednesdays", "", None),
    (T(2020, 12, 18, 8, 25, 44), "ipetrov@example.org", "Ivan", "Petrov", "310-555-0171",
     "3112 Emerald St", "Torrance", 90503, D(2020, 12, 21), D(2020, 12, 23),
     "Nadia Petrova", "424-555-0171", "Yes", "None", "None", "No", "None", "None", "", None),
    (T(2020, 12, 19, 12, 53, 17), "wei.chen@example.net", "Wei", "Chen", "310-555-0172",
     "3044 W 186th St", "Torrance", 90504, D(2020, 12, 24), D(2020, 12, 28),
     "Jun Chen", "424-555-0172", "Yes", "None", "None", "Yes, living room",
     "None", "None", "", None),
    (T(2020, 12, 20, 10, 18, 29), "lhoffman@example.com", "Linda", "Hoffman", 3105550181,
     "4630 Via Valmonte", "Torrance", 90505, D(2020, 12, 23), D(2021, 1, 1),
     "Carol Jensen (neighbor)", "424-555-0181", "Yes", "ADT, (800) 555-0199",
     "White Toyota Camry, 8ABC123, in the garage", "Living room, 6 pm to 11 pm", "None",
     "None", "",
     N("Same residence and resident as row {linda}, on a later trip (December 23 to "
       "January 1; row {linda} was November 25-29).",
       "A new request (a new record): the dates do not overlap.")),
    (T(2020, 12, 21, 15, 4, 11), "mvega@example.com", "Marisol", "Vega", "310-555-0173",
     "1035 W 220th St", "Torrance", 90502, D(2020, 12, 24), D(2020, 12, 27),
     "Rosa Vega", "424-555-0173", "Yes", "None", "None", "No",
     "Two cats, a sitter comes daily", "Cat sitter: Ana Flores", "", None),
    (T(2020, 12, 22, 21, 15, 40), "sanderson@example.net", "Scott", "Anderson", "310-555-0174",
     "3520 Sonoma St", "Torrance", 90503, D(2020, 12, 23), D(2020, 12, 29),
     "Karen Anderson", "424-555-0174", "Yes", "None", "None", "No", "None", "None",
     "Sorry for the late notice!",
     N("Submitted December 22 at 9:15 PM, leaving December 23: less than 48 hours' notice.",
       "Ineligible: less notice than advance_notice_hours (48); staff decide whether to "
       "check anyway.", "ineligible")),
    (T(2020, 12, 23, 9, 47, 5), "hgoldstein@example.org", "Hannah", "Goldstein",
     "310-555-0175", "4711 Paseo de las Tortugas", "Torrance", 90505, D(2020, 12, 26),
     D(2021, 1, 2), "Eli Goldstein", "424-555-0175", "Yes", "ADT, (800) 555-0199",
     "Gray Subaru Outback, 8EFG390, in the driveway", "Living room", "None",
     "Gardener on Tuesdays", "", None),
    (T(2020, 12, 27, 11, 30, 52), "tlewis@example.com", "Trevor", "Lewis", "310-555-0176",
     "3815 W 176th St", "Torrance", 90504, D(2020, 12, 30), D(2021, 1, 3),
     "Kim Lewis", "424-555-0176", "Yes", "None", "None", "No", "None", "None", "", None),
    (T(2020, 12, 28, 10, 2, 36), "asuzuki@example.net", "Aiko", "Suzuki", "310-555-0177",
     "21230 Kent Ave", "Torrance", 90503, D(2020, 12, 31), D(2021, 1, 3),
     "Hiro Suzuki", "424-555-0177", "Yes", "None", "None", "Bedroom", "None", "None", "",
     None),
]


def vsc_table() -> tuple[list[list[object]], list[Note]]:
    rows = [[None if v == "" else v for v in r[:-1]] for r in VSC_ROWS]
    return rows, resolve([r[-1] for r in VSC_ROWS])


# =============================================================================================
# Writing
# =============================================================================================

FIXED_TIME = dt.datetime(2021, 1, 4, 8, 0, 0)  # recorded as the .xlsx file's save time


def write_csv(path: Path, headers: list[str], rows: list[list[str]], bom: bool) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(rows)


def write_xlsx(path: Path, headers: list[str], rows: list[list[object]]) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Form Responses 1"
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for values in rows:
        ws.append(values)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "m/d/yyyy h:mm:ss"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "m/d/yyyy"
            elif isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # a form answer, not a formula
    ws.freeze_panes = "A2"
    widths = (19, 26, 14, 14, 16, 34, 14, 10, 12, 12, 26, 16, 14, 26, 40, 26, 22, 30, 40)
    for column, width in zip("ABCDEFGHIJKLMNOPQRS", widths, strict=True):
        ws.column_dimensions[column].width = width
    wb.properties.creator = "Google Sheets"
    wb.properties.created = FIXED_TIME

    buffer = io.BytesIO()
    wb.save(buffer)
    # openpyxl stamps the save time into docProps/core.xml and the zip entries: pin both so
    # that running the script again writes the same bytes.
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)


README_HEAD = """\
# Sample form exports

Generated by `scripts/make_example_data.py`: edit the script, not these files, then run
`python scripts/make_example_data.py`. `config/example.toml` reads them. Every person,
phone number (555-01xx) and email address (example.com / .org / .net) is fictional.

- `partners-in-policing-responses.csv` ({pip} responses): Google Forms "Download
  responses (.csv)" re-saved as CSV UTF-8, so it starts with a byte-order mark; timestamps
  like `2020/01/07 9:15:02 AM PST`; checked boxes joined with ", ".
- `teens-and-policing-responses.csv` ({tap} responses): Google Sheets "File > Download >
  .csv", no byte-order mark; timestamps like `1/6/2020 14:22:05`. The form asks "Phone
  Number" twice (student, then parent/guardian), so the second is mapped as
  "Phone Number (2)".
- `vacation-check-responses.xlsx` ({vsc} responses): Google Sheets "File > Download >
  .xlsx", tab "Form Responses 1". Timestamps and the two date questions are date cells;
  all-digit answers (ZIP codes, some phones, a 0) are number cells; blank answers are
  empty cells.

Rows are numbered as in the spreadsheet: the header is row 1, the first response row 2.
Rows not listed are ordinary, valid responses.

- Partners in Policing: Spring 2020 registration ran 2020-01-06 to 2020-03-04 (classes
  start 2020-03-05), Fall 2020 registration 2020-06-01 to 2020-09-09 (classes start
  2020-09-10). An applicant joins the cohort whose registration was open on the date of
  their first application; age is checked on that cohort's first class day.
- Teens and Policing: the "Semester" answer ("Spring 2020", "Fall 2020") names the semester.
- Vacation checks: Thanksgiving and December 2020 holidays; rules: 48 hours' notice, at
  most 30 days away, Torrance ZIP codes only.

"Expected" is what the toolkit should do with the row. Needs Review means the row cannot
become a record until it is fixed (a required answer is missing or impossible); it is
listed on the Needs Review sheet with every reason. Ineligible means the row is a record
whose Eligibility column gives the reason, so staff see it, but it is not placed in a
class or on a route.
"""

OUTCOMES = ("merged", "review", "ineligible", "pair")


def readme(sections: list[tuple[str, int, list[Note]]]) -> str:
    out = [README_HEAD.format(pip=sections[0][1], tap=sections[1][1], vsc=sections[2][1])]
    for title, _count, notes in sections:
        out.append(f"\n## {title}\n\n")
        out.append("| Row | What is wrong or unusual | Expected |\n|---|---|---|\n")
        for n in notes:
            if n.problem:
                cells = [str(n.row), n.problem, n.expected]
                out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
    out.append("\n## Totals when the toolkit behaves as described\n\n")
    out.append("| Program | Responses | Records | of which ineligible | Merged | Needs Review "
               "| Possible Duplicates |\n")
    out.append("|---|---|---|---|---|---|---|\n")
    for title, count, notes in sections:
        by = {k: [n.row for n in notes if n.outcome == k] for k in OUTCOMES}

        def cell(rows: list[int]) -> str:
            if not rows:
                return "0"
            return f"{len(rows)} (row{'s' * (len(rows) > 1)} {', '.join(map(str, rows))})"

        records = count - len(by["merged"]) - len(by["review"])
        pairs = f"rows {', '.join(map(str, by['pair']))}" if by["pair"] else "none"
        out.append(
            f"| {title.split(' (')[0]} | {count} | {records} | {cell(by['ineligible'])} "
            f"| {cell(by['merged'])} | {cell(by['review'])} | {pairs} |\n"
        )
    out.append(
        "\nResponses = records + merged + Needs Review: every row is accounted for.\n"
    )
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "config" / "examples",
                        help="folder to write the files in (default: config/examples)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    pip_rows, pip_notes = pip_table()
    tap_rows, tap_notes = tap_table()
    vsc_rows, vsc_notes = vsc_table()
    files = {
        "partners-in-policing-responses.csv": lambda p: write_csv(p, PIP_HEADERS, pip_rows, True),
        "teens-and-policing-responses.csv": lambda p: write_csv(p, TAP_HEADERS, tap_rows, False),
        "vacation-check-responses.xlsx": lambda p: write_xlsx(p, VSC_HEADERS, vsc_rows),
        "README.md": lambda p: p.write_text(readme([
            ("Partners in Policing (`partners-in-policing-responses.csv`)", len(pip_rows),
             pip_notes),
            ("Teens and Policing (`teens-and-policing-responses.csv`)", len(tap_rows),
             tap_notes),
            ("Vacation Security Check (`vacation-check-responses.xlsx`)", len(vsc_rows),
             vsc_notes),
        ]), encoding="utf-8"),
    }
    for name, write in files.items():
        write(args.out / name)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
