"""Behaviour of the answer normalisers in sync.ingest.normalize and sync.ingest.dates."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sync.ingest import normalize as n

LA = ZoneInfo("America/Los_Angeles")
UTC = ZoneInfo("UTC")
TODAY = dt.date(2024, 6, 1)
PIP_AFFILIATIONS = [
    "I live in Torrance",
    "I belong to a Torrance civic organization (Kiwanis, Rotary, Chamber of Commerce, etc.)",
    "I work in Torrance",
    "I attend school in Torrance",
]


# --- clean_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (42, "42"),
        (3105550143.0, "3105550143"),
        (2.5, "2.5"),
        (0.1 + 0.2, "0.3"),
        (dt.date(2020, 3, 5), "2020-03-05"),
        (dt.datetime(2020, 3, 5, 18, 4, 11), "2020-03-05 18:04:11"),
        ("  padded \t", "padded"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("zero\u200bwidth\u2060\ufeff", "zerowidth"),
        ("\u202eevil\u202c \u2066iso\u2069 \u200fmark", "evil iso mark"),
        ("bad\ufffe\uffff", "bad"),
        ("lone\ud800surrogate\udfff", "lonesurrogate"),
        ("Jose\u0301", "José"),  # decomposed accent composed (NFC)
        ("Zoë 🎉 Ñandú", "Zoë 🎉 Ñandú"),
    ],
)
def test_clean_text(value, expected):
    assert n.clean_text(value) == expected


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("john", "John"),
        ("  JOHN   SMITH ", "John Smith"),
        ("o'brien", "O'Brien"),
        ("O'BRIEN", "O'Brien"),
        ("d'angelo", "D'Angelo"),
        ("mcdonald", "McDonald"),
        ("MACARTHUR", "Macarthur"),  # only Mc: "Mac" would break Mack and Macy
        ("smith-jones", "Smith-Jones"),
        ("maria de la cruz", "Maria de la Cruz"),
        ("de la cruz", "De la Cruz"),
        ("LUDWIG VAN BEETHOVEN", "Ludwig van Beethoven"),
        ("john smith jr", "John Smith Jr."),
        ("JOHN SMITH JR.", "John Smith Jr."),
        ("henry ford iii", "Henry Ford III"),
        ("le", "Le"),
        ("DeShawn", "DeShawn"),
        ("McKenzie", "McKenzie"),
        ("van Dyke", "van Dyke"),
        ("", ""),
        (None, ""),
    ],
)
def test_name(typed, expected):
    assert n.name(typed) == expected


def test_name_key_ignores_case_accents_and_punctuation():
    assert n.name_key("José", "O'Brien") == n.name_key("JOSE", "obrien") == ("jose", "obrien")
    assert n.name_key("Mary Ann", "De La Cruz") == ("maryann", "delacruz")


@pytest.mark.parametrize(
    ("a", "b"), [("Bill", "William"), ("Liz", "Elizabeth"), ("liz", "Beth"), ("Bob", "ROBERT")]
)
def test_first_name_variants_meet_for_nicknames(a, b):
    assert n.first_name_variants(a) & n.first_name_variants(b)


def test_first_name_variants():
    assert n.first_name_variants("Élizabeth") >= {"elizabeth"}
    assert n.first_name_variants("William Henry") & n.first_name_variants("Bill")
    assert not n.first_name_variants("Maria") & n.first_name_variants("Robert")
    assert n.first_name_variants("") == set()
    assert n.first_name_variants("Zyxw") == {"zyxw"}


def test_phonetic():
    assert n.phonetic("Smith") == n.phonetic("SMYTH")
    assert n.phonetic("José") == n.phonetic("jose")
    assert n.phonetic("O'Brien") == n.phonetic("OBrien")
    assert n.phonetic("") == n.phonetic("1234") == ""


# --- email -----------------------------------------------------------------------------------


def test_email():
    assert n.email(" John.Smith@Example.COM ") == "John.Smith@example.com"
    assert n.email("mailto:pat@example.org") == "pat@example.org"
    assert n.email("") == n.email(None) == ""
    assert n.email_key("John.Smith@Example.COM") == "john.smith@example.com"
    assert n.email_key("John.Smith@example.com") == n.email_key("JOHN.SMITH@EXAMPLE.COM")


@pytest.mark.parametrize("bad", ["john", "john@", "john@localhost", "a b@example.com", "@x.org"])
def test_email_invalid(bad):
    with pytest.raises(ValueError, match="^not a valid email address$"):
        n.email(bad)
    assert n.email_key(bad) == bad.lower()


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "(310) 555-0143",
        "310.555.0143",
        "310-555-0143",
        3105550143,
        3105550143.0,
        "+1 310 555 0143",
        "1-310-555-0143",
        13105550143,
    ],
)
def test_phone_e164(typed):
    assert n.phone(typed) == "+13105550143"


def test_phone_extension_and_abroad():
    assert n.phone("310-555-0143 ext 12") == "+13105550143;ext=12"
    assert n.phone("+44 20 7946 0958") == "+442079460958"
    assert n.phone("") == n.phone(None) == ""


@pytest.mark.parametrize("bad", ["555-0143", "123", "(010) 555-0143", "call me", "310555014399999"])
def test_phone_invalid(bad):
    with pytest.raises(ValueError, match="^not a valid phone number$"):
        n.phone(bad)


# --- ZIP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (90501, "90501"),
        (90501.0, "90501"),
        ("90501", "90501"),
        (" 90501-1234 ", "90501"),
        ("905011234", "90501"),
        (2134, "02134"),  # a number lost its leading zero
        (21341234, "02134"),
        (905031234, "90503"),
        ("02134", "02134"),
        ("", ""),
        (None, ""),
    ],
)
def test_zip_code(typed, expected):
    assert n.zip_code(typed) == expected


@pytest.mark.parametrize("bad", ["9050", "905011", "Torrance", "00000", 0, 123456, True])
def test_zip_code_invalid(bad):
    with pytest.raises(ValueError, match="^not a valid ZIP code$"):
        n.zip_code(bad)


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "3/5/2020",
        "03/05/2020",
        "3-5-2020",
        "3.5.2020",
        "2020-03-05",
        "2020/03/05",
        "2020/3/5",
        "March 5, 2020",
        "march 5 2020",
        "MAR. 5, 2020",
        "Mar 5 2020",
        "Mar 5th, 2020",
        "Thursday, March 5, 2020",
        "5 March 2020",
        "5th of March 2020",
        "05-Mar-2020",
        "2020 March 5",
        "3/5/2020 0:00:00",
        "2020-03-05T00:00:00Z",
        " \u200b3/5/2020 ",
        43895,
        43895.99,
        dt.date(2020, 3, 5),
        dt.datetime(2020, 3, 5, 18, 4),
    ],
)
def test_parse_date(typed):
    assert n.parse_date(typed) == dt.date(2020, 3, 5)


def test_parse_date_serial_numbers():
    assert n.parse_date(43831) == dt.date(2020, 1, 1)
    assert n.parse_date(43831.75) == dt.date(2020, 1, 1)
    assert n.parse_date(1) == dt.date(1899, 12, 31)
    assert n.parse_date(2958465) == dt.date(9999, 12, 31)


@pytest.mark.parametrize("serial", [0, -1, 0.5, 2958466, float("nan"), float("inf")])
def test_parse_date_serial_out_of_range(serial):
    with pytest.raises(ValueError, match="out of range"):
        n.parse_date(serial)


def test_parse_date_dayfirst():
    assert n.parse_date("5/3/2020", dayfirst=True) == dt.date(2020, 3, 5)
    assert n.parse_date("2020-03-05", dayfirst=True) == dt.date(2020, 3, 5)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2/30/2020", "date 2/30/2020 does not exist"),
        ("2/29/2021", "date 2/29/2021 does not exist"),
        ("13/5/2020", "date 13/5/2020 does not exist"),
        ("February 30, 2020", "date February 30, 2020 does not exist"),
        ("2020-02-30", "date 2020-02-30 does not exist"),
        ("3/5/1850", "date 3/5/1850 is out of range"),
    ],
)
def test_parse_date_impossible(typed, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        n.parse_date(typed)


@pytest.mark.parametrize(
    "typed", ["March", "5", "2020", "March 2020", "3/5", "mar 5", "hello", "43831", "1/2/345", True]
)
def test_parse_date_incomplete_or_garbage(typed):
    with pytest.raises(ValueError, match="^not a date$"):
        n.parse_date(typed)


def test_parse_date_empty():
    with pytest.raises(ValueError, match="^no date given$"):
        n.parse_date(" ")
    with pytest.raises(ValueError, match="^no date given$"):
        n.parse_date(None)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3/5/90", dt.date(1990, 3, 5)),
        ("3/5/05", dt.date(2005, 3, 5)),
        ("5/31/24", dt.date(2024, 5, 31)),
        ("6/2/24", dt.date(1924, 6, 2)),  # a day after today: a century ago
        ("March 5, 68", dt.date(1968, 3, 5)),
    ],
)
def test_parse_date_two_digit_years_in_the_past(typed, expected):
    assert n.parse_date(typed, today=TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7/4/24", dt.date(2024, 7, 4)),
        ("1/2/25", dt.date(2025, 1, 2)),
        ("12/30/73", dt.date(2073, 12, 30)),
        ("12/30/74", dt.date(1974, 12, 30)),
    ],
)
def test_parse_date_two_digit_years_near_today(typed, expected):
    assert n.parse_date(typed, today=TODAY, future=True) == expected


# --- date and time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "3/5/2020 18:04:11",
        "3/5/2020 6:04:11 PM",
        "03/05/2020 06:04:11 pm",
        "2020/03/05 6:04:11 PM PST",
        "2020/03/05 6:04:11 PM GMT-8",
        "2020/03/05 6:04:11 PM GMT-08:00",
        "2020/03/05 7:04:11 PM MST",
        "2020/03/05 9:04:11 p.m. EST",
        "2020-03-05T18:04:11-08:00",
        "2020-03-05T18:04:11.987-0800",
        "2020-03-06T02:04:11Z",
        "2020-03-06 02:04:11 UTC",
        "2020/03/06 7:34:11 AM GMT+5:30",
        "20200306T020411Z",
        "March 5, 2020 at 6:04:11 PM",
        dt.datetime(2020, 3, 5, 18, 4, 11, 500000),
        dt.datetime(2020, 3, 6, 2, 4, 11, tzinfo=dt.UTC),
    ],
)
def test_parse_datetime(typed):
    assert n.parse_datetime(typed, source_tz=None, target_tz=LA) == dt.datetime(
        2020, 3, 5, 18, 4, 11
    )


def test_parse_datetime_gmt_offset_sign_is_googles():
    """Google's "GMT-8" means UTC-8, not the POSIX "8 hours east" that dateutil reads."""
    moment = n.parse_datetime("2020/03/05 6:04:11 PM GMT-8", source_tz=None, target_tz=UTC)
    assert moment == dt.datetime(2020, 3, 6, 2, 4, 11)
    moment = n.parse_datetime("2020/03/05 6:04 PM UTC+3", source_tz=None, target_tz=UTC)
    assert moment == dt.datetime(2020, 3, 5, 15, 4)


def test_parse_datetime_serial_numbers():
    assert n.parse_datetime(43831.75, target_tz=LA) == dt.datetime(2020, 1, 1, 18, 0)
    assert n.parse_datetime(43831, target_tz=LA) == dt.datetime(2020, 1, 1)
    # 18:04:11 as Sheets stores it: rounded to the second, not truncated to 18:04:10
    assert n.parse_datetime(43895.752905092594, target_tz=LA) == dt.datetime(2020, 3, 5, 18, 4, 11)
    # the spreadsheet's zone differs from the department's
    assert n.parse_datetime(43831.75, source_tz=UTC, target_tz=LA) == dt.datetime(2020, 1, 1, 10, 0)


def test_parse_datetime_naive_values_are_in_the_source_zone():
    summer = dt.datetime(2020, 7, 1, 19, 0)
    assert n.parse_datetime(summer, source_tz=UTC, target_tz=LA) == dt.datetime(2020, 7, 1, 12)
    assert n.parse_datetime("7/1/2020 19:00", source_tz=UTC, target_tz=LA) == dt.datetime(
        2020, 7, 1, 12
    )
    assert n.parse_datetime("2020-07-01 19:00", source_tz=None, target_tz=LA) == summer
    assert n.parse_datetime(dt.date(2020, 7, 1), target_tz=LA) == dt.datetime(2020, 7, 1)
    assert n.parse_datetime("7/1/2020", target_tz=LA) == dt.datetime(2020, 7, 1)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("3/5/2020 25:00", "^time 25:00 does not exist$"),
        ("3/5/2020 13:00 PM", "^time 13:00 pm does not exist$"),
        ("2/30/2020 10:00", "^date 2/30/2020 does not exist$"),
        ("3/5/2020 6:04 PM XYZ", "^unknown time zone XYZ$"),
        ("18:04:11", "^not a date$"),
        ("", "^no date given$"),
        ("2020-13-45T99:99", "does not exist"),
        ("2020-W10-ZZ", "^not a date$"),
        ("20201345T1804", "^not a date$"),
    ],
)
def test_parse_datetime_invalid(typed, message):
    with pytest.raises(ValueError, match=message):
        n.parse_datetime(typed, source_tz=None, target_tz=LA)


# --- yes/no and numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Yes", True),
        ("YES!", True),
        ("y", True),
        ("true", True),
        ("TRUE", True),
        (True, True),
        (1, True),
        ("x", True),
        ("Checked", True),
        ("I agree", True),
        ("I consent.", True),
        ("I give permission for my child to participate in Teens and Policing", True),
        ("Yes, I consent to a background check", True),
        ("No", False),
        ("false", False),
        (False, False),
        (0.0, False),
        ("No, thank you", False),
        ("I do not consent", False),
        ("I don’t agree", False),
        ("", None),
        (None, None),
    ],
)
def test_parse_bool(typed, expected):
    assert n.parse_bool(typed) is expected


@pytest.mark.parametrize("bad", ["maybe", "Not sure", "2", 7, "Nobody"])
def test_parse_bool_unknown(bad):
    with pytest.raises(ValueError, match="^not a yes/no answer$"):
        n.parse_bool(bad)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("11", 11),
        (11, 11),
        (11.0, 11),
        ("11th", 11),
        ("Grade 11", 11),
        ("12th grade", 12),
        ("Junior", 11),
        ("Senior", 12),
        ("junior (11th)", 11),
        ("1,200", 1200),
    ],
)
def test_parse_int(typed, expected):
    assert n.parse_int(typed) == expected


@pytest.mark.parametrize("bad", ["11.5", 11.5, "abc", "Junior (12th)", "11 or 12", True, "eleven"])
def test_parse_int_invalid(bad):
    with pytest.raises(ValueError, match="^not a whole number$"):
        n.parse_int(bad)


def test_parse_int_empty():
    with pytest.raises(ValueError, match="^no number given$"):
        n.parse_int("")


# --- checkbox answers ------------------------------------------------------------------------


def test_split_choices_option_with_commas():
    answer = (
        "I live in Torrance, I belong to a Torrance civic organization "
        "(Kiwanis, Rotary, Chamber of Commerce, etc.), I work in Torrance"
    )
    assert n.split_choices(answer, PIP_AFFILIATIONS) == [
        PIP_AFFILIATIONS[0],
        PIP_AFFILIATIONS[1],
        PIP_AFFILIATIONS[2],
    ]


def test_split_choices_other_text_kept_whole():
    answer = "I work in Torrance, My church, St. Mary's, is in Torrance"
    assert n.split_choices(answer, PIP_AFFILIATIONS) == [
        "I work in Torrance",
        "My church, St. Mary's, is in Torrance",
    ]
    answer = "Volunteer, firefighter, i live in torrance"
    assert n.split_choices(answer, PIP_AFFILIATIONS) == [
        "Volunteer, firefighter",
        "I live in Torrance",
    ]


def test_split_choices_prefix_option_and_repeats():
    options = ["Dog", "Dog walker", "Cat"]
    assert n.split_choices("Dog walker, Dog, Dog", options) == ["Dog walker", "Dog"]
    assert n.split_choices("Dogs, Cat", options) == ["Dogs", "Cat"]


def test_split_choices_list_and_empty():
    value = ["I work in Torrance", "i live in torrance", "Other thing, with comma"]
    assert n.split_choices(value, PIP_AFFILIATIONS) == [
        "I work in Torrance",
        "I live in Torrance",
        "Other thing, with comma",
    ]
    assert n.split_choices("", PIP_AFFILIATIONS) == []
    assert n.split_choices(None, PIP_AFFILIATIONS) == []
    assert n.split_choices("Yes, no", []) == ["Yes, no"]


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("3300 Civic Center Drive, Apt. 4", "3300 civic center dr #4"),
        ("3300 CIVIC CENTER DR SUITE 4", "3300 Civic Center Dr., Ste 4"),
        ("123 North Main Street Unit 4B", "123 N. Main St., Apt 4-B"),
        ("20 West Carson Boulevard", "20 W Carson Blvd"),
        ("5 Palos Verdes Parkway", "5 palos verdes pkwy"),
        ("1 Ocean Avenue", "1 Ocean Ave."),
        ("9 Rolling Hills Highway, Apartment #12", "9 rolling hills hwy apt 12"),
        ("Apt 7, 1 Ocean Ave", "1 Ocean Avenue #7"),
    ],
)
def test_address_key_same(a, b):
    assert n.address_key(a) == n.address_key(b)


def test_address_key_differs():
    assert n.address_key("3300 Civic Center Dr Apt 4") != n.address_key("3300 Civic Center Dr #5")
    assert n.address_key("3300 Civic Center Dr") != n.address_key("3301 Civic Center Dr")
    assert n.address_key("1 Ocean Ave", "90501") != n.address_key("1 Ocean Ave", "90277")


def test_address_key_zip():
    assert n.address_key("3300 Civic Center Drive", 90503) == "3300 civic center dr 90503"
    assert n.address_key("3300 Civic Center Dr", "90503-1234") == "3300 civic center dr 90503"
    assert n.address_key("3300 Civic Center Dr", "") == "3300 civic center dr"
    # what is typed when it is no ZIP, letters and digits only; a ZIP alone when no street
    assert n.address_key("Apt 4, 1 Ocean Ave", "9O5O1!") == "1 ocean ave unit 4 9o5o1"
    assert n.address_key("", "90503") == "90503"


def test_address_key_is_its_street_part_then_its_zip_part():
    """Matching takes the street and the ZIP apart from one normalisation of the street."""
    assert n.street_key("9 Rolling Hills Highway, Apartment #12") == "9 rolling hills hwy unit 12"
    assert (n.zip_key(2134.0), n.zip_key(""), n.zip_key("CA 90501")) == ("02134", "", "ca90501")


def test_phone_display_writes_a_stored_number_as_people_do():
    """Rosters and route sheets show the stored E.164 number the same way, from one function."""
    assert n.phone_display("+13105550101") == "(310) 555-0101"
    assert n.phone_display("+13105550101;ext=12") == "(310) 555-0101 ext. 12"
    assert n.phone_display(n.phone("310.555.0143 x7")) == "(310) 555-0143 ext. 7"
    assert n.phone_display("+442079460000") == "+442079460000"  # not North American
    assert n.phone_display("") == ""
