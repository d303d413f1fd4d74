"""Letters that speak to people: refusal letters in plain sentences from the reason's
fields, dates written out, the staff's wording kept in the master; a Subject that starts on
its own header line."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sync import confirmations
from sync.confirmations import headers, render
from sync.ingest import validate
from sync.master import syncer
from tests import configs
from tests.conftest import Site
from tests.helpers import parse, rows_by_id

PIP_ROWS = """Timestamp,Email Address,First Name,Last Name,Date of Birth,Phone,Connection to Torrance
3/2/2020 09:40:00,dee@example.com,Dee,Park,7/8/2015,310 555 0104,I live in Torrance
3/3/2020 08:00:00,eve@example.com,Eve,Stone,9/9/1985,310 555 0105,I visit Torrance
"""

VSC_ROWS = """\
Timestamp,Email Address,First Name,Last Name,Phone,Street,City,ZIP,Leaving,Returning,Emergency contact
3/1/2020 11:00:00,wes@example.com,Wes,Long,310-555-0302,9 Elm St,Beverly Hills,90210,6/1/2030,6/10/2030,
3/1/2020 11:00:00,lou@example.com,Lou,Ames,310-555-0303,4 Oak Ave,Long Beach <i>,,6/1/2030,6/10/2030,
5/31/2030 20:00:00,nia@example.com,Nia,Cole,310-555-0304,5 Pine St,Torrance,90503,6/1/2030,6/10/2030,
6/1/2030 09:00:00,ora@example.com,Ora,Diaz,310-555-0305,6 Ash St,Torrance,90503,6/1/2030,6/10/2030,
3/1/2020 11:00:00,pat@example.com,Pat,Ruiz,310-555-0306,7 Elm St,Torrance,90503,6/1/2030,8/12/2030,
"""

# the staff's wording: right for the master, wrong for a letter
INTERNAL = re.compile(r"\d{4}-\d\d-\d\d|longest absence checked|hours' notice before leaving"
                      r"|city limits$|under 18 on|no Torrance affiliation")


@pytest.fixture(scope="module")
def letters(tmp_path_factory) -> tuple[Site, dict[str, str]]:
    """A site whose ineligible records break each rule; {record ID: plain-text letter}."""
    root = tmp_path_factory.mktemp("letters")
    site = Site(root, configs.toml(configs.CONFIRMATIONS))
    (root / "pip.csv").write_text(PIP_ROWS)
    (root / "tap.csv").write_text("Timestamp\n")
    (root / "vsc.csv").write_text(VSC_ROWS)
    config = site.config()
    syncer.sync(config, ["pip", "vsc"])
    confirmations.confirm(config, ["pip", "vsc"])
    texts = {p.name.split("-pip-")[0].split("-vsc-")[0]: parse(p).get_body(("plain",)).get_content()
             for p in (site.out / "outbox").glob("*.eml")}
    return site, texts


def _sentences(text: str) -> str:
    return " ".join(text.split())


def test_refusal_letters_say_each_rule_in_plain_sentences_with_dates_written_out(letters):
    """Refusal letters pasted the master's reason ("away 72 days: the longest absence checked
    is 30 days", "under 18 on the class start date 2030-03-07"); they now say each rule in a
    sentence from its fields, with dates such as "Saturday, June 1, 2030"."""
    _, texts = letters
    want = {
        "PIP-00001": "Participants must be 18 or older on the first evening of class, Thursday, "
                     "March 7, 2030. By the date of birth on your application, you will be 14 on "
                     "that day.",
        "PIP-00002": "The class is open to people who live or work in Torrance, attend school "
                     "there, or belong to a church or civic organization there, and your "
                     "application does not mention any of these.",
        "VSC-00001": "We check homes inside Torrance city limits only, and the ZIP code on your "
                     "request, 90210, is outside the city.",
        "VSC-00002": "your request gives the city as Long Beach <i>.",
        "VSC-00003": "We need at least 48 hours' notice before you leave to arrange the checks, "
                     "and your request reached us 4 hours before Saturday, June 1, 2030.",
        "VSC-00004": "your request reached us on or after the day you leave, Saturday, June 1, "
                     "2030.",
        "VSC-00005": "We can check a home for an absence of up to 30 days, and this trip is 72 "
                     "days long.",
    }
    assert sorted(texts) == sorted(want)
    for rid, sentence in want.items():
        text = _sentences(texts[rid])
        assert sentence in text, rid
        assert not INTERNAL.search(text), (rid, INTERNAL.search(text))
    assert "from Saturday, June 1, 2030 through Monday, August 12, 2030" in _sentences(
        texts["VSC-00005"])


def test_an_answer_in_a_reason_is_escaped_in_html(letters):
    site, _ = letters
    html = parse(site.out / "outbox" / "VSC-00002-vsc-declined.eml").get_body(("html",))
    assert "gives the city as Long Beach &lt;i&gt;." in html.get_content()


def test_the_master_keeps_the_staff_wording(letters):
    site, _ = letters
    pip = rows_by_id(site.master)
    assert pip["PIP-00001"]["Eligibility"] == "Ineligible: under 18 on the class start date 2030-03-07"
    vsc = rows_by_id(site.master, "Vacation Checks")
    assert vsc["VSC-00005"]["Eligibility"] == ("Ineligible: away 72 days: the longest absence "
                                               "checked is 30 days")


def test_reasons_carry_the_rule_the_value_the_limit_and_a_real_date():
    """What a template gets: fields, not a sentence; the text is what the master shows."""
    values = {"submitted_at": dt.datetime(2030, 5, 31, 20), "zip": "90503", "city": "Torrance",
              "leave_date": dt.date(2030, 6, 1), "return_date": dt.date(2030, 8, 12)}
    from sync import config as config_mod
    from tests.conftest import REPO
    cfg = config_mod.load(REPO / "config" / "example.toml")
    found = validate.reasons(values, cfg.program("vsc"), cfg)
    assert [(r.rule, r.value, r.limit, r.date) for r in found] == [
        ("advance_notice", 4, 48, dt.date(2030, 6, 1)),
        ("max_days", 72, 30, dt.date(2030, 6, 1))]
    assert str(found[1]) == "away 72 days: the longest absence checked is 30 days"


def test_a_reason_the_rules_no_longer_give_gets_a_polite_sentence(letters):
    """When the configuration changed since the sync (the rule's text differs), the letter
    says a requirement is not met rather than pasting the staff's wording."""
    site, _ = letters
    data = {"eligibility": "Ineligible: something staff wrote", "values": {}}
    fields = confirmations.due.reasons_of(data, site.config().program("pip"), site.config())
    assert fields == [{"rule": "other", "text": "something staff wrote", "value": None,
                       "limit": None, "date": None, "on": ""}]
    templates = render.Templates([render.BUNDLED])
    context = {"first_name": "Al", "department": {"name": "TPD", "city": "Torrance",
                                                  "phone": "1", "station": "x"},
               "record_id": "PIP-00009", "reasons": fields}
    text = templates.render("pip-ineligible", context).text
    assert "does not meet one of the requirements of the class" in text
    assert "staff wrote" not in text


# -- the Subject header -------------------------------------------------------------------


def _subject_lines(subject: str) -> list[str]:
    rendered = render.Rendered("t", subject, "body\n", "<p>body</p>\n")
    msg = render.compose(rendered, headers.named("TPD", "no-reply@example.org"),
                         [headers.address("Ann", "ann@example.org")])
    raw = render.message_bytes(msg).decode("ascii")
    head = raw.split("\r\n\r\n")[0].split("\r\n")
    start = next(i for i, line in enumerate(head) if line.startswith("Subject:"))
    end = next(i for i in range(start + 1, len(head)) if not head[i].startswith(" "))
    return head[start:end]


@pytest.mark.parametrize("subject", [
    "Your Partners in Policing application",
    "Vacation security check: request received for June 1 to June 10",
    # 9 + 72 characters: the email package wrote "Subject:" alone, then the text
    "Partners in Policing, Spring 2030: your application and what happens next",
    "Teens and Policing, Fall 2030: José Ramírez-Gutiérrez of North is enrolled",
    "Teens and Policing, Fall 2030: 李小龍 is enrolled",
])
def test_the_subject_starts_on_the_subject_line(subject):
    """Produced bytes: the first word is on the "Subject:" line, a Subject that fits stays
    whole on it, every line is at most 78 characters, and a reader gets it back as written."""
    lines = _subject_lines(subject)
    assert lines[0].startswith("Subject: ") and lines[0] != "Subject: "
    assert all(len(line) <= 78 for line in lines)
    if subject.isascii() and len("Subject: " + subject) <= 78:
        assert lines == ["Subject: " + subject]
    raw = "\r\n".join(lines) + "\r\n\r\n"
    import email
    import email.policy
    got = email.message_from_string(raw, policy=email.policy.default)["Subject"]
    assert got == subject


def test_tap_and_pip_reasons_carry_their_fields():
    from sync import config as config_mod
    from tests.conftest import REPO

    cfg = config_mod.load(REPO / "config" / "example.toml")
    tap = validate.reasons({"grade": 10, "school": "Redondo Union High"}, cfg.program("tap"), cfg)
    assert [(r.rule, r.value) for r in tap] == [("grade", 10), ("school", "Redondo Union High")]
    assert tap[0].limit == [11, 12] and "Torrance High School" in tap[1].limit
    pip = validate.reasons({"submitted_at": dt.datetime(2031, 6, 1, 9), "affiliations": [],
                            "date_of_birth": dt.date(2015, 1, 1)}, cfg.program("pip"), cfg)
    assert [(r.rule, r.value, r.limit, r.date, r.on) for r in pip] == [
        ("affiliation", None, "Torrance", None, ""),
        ("minimum_age", 16, 18, dt.date(2031, 6, 1), "application")]
    assert [str(r) for r in pip][1] == "under 18 on the application date"
