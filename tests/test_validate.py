"""Program rules: what is required, what makes an applicant ineligible, and why."""

from __future__ import annotations

import datetime as dt
import gc
import os
import textwrap
import types
from pathlib import Path

from sync import config as config_mod
from sync.ingest.validate import match_school, validate
from sync.sources.responses import Response

REPO = Path(__file__).resolve().parents[1]


def example():
    return config_mod.load(REPO / "config" / "example.toml")


def response(program: str, n: int, **fields) -> Response:
    return Response(program, "test.csv", n, fields, {})


def pip_answers(**over):
    base = {"submitted_at": "2/1/2020 10:00:00", "email": "ann@example.com", "first_name": "ann",
            "last_name": "O'BRIEN", "date_of_birth": "1/2/1980", "phone": "3105550101",
            "affiliations": "I live in Torrance"}
    base.update(over)
    return base


def pip_program(cfg):
    program = cfg.program("pip")
    live = next(k for k, v in program.options["affiliations"].items() if v == "live")
    return program, live


def run(program_key: str, rows: list[dict], cfg=None):
    cfg = cfg or example()
    program = cfg.program(program_key)
    responses = [response(program_key, i + 2, **{k: v for k, v in r.items() if k in program.questions})
                 for i, r in enumerate(rows)]
    return validate(responses, program, cfg)


def test_pip_valid_row_is_normalised():
    cfg = example()
    _program, live = pip_program(cfg)
    [c], problems = run("pip", [pip_answers(affiliations=live)], cfg)
    assert problems == []
    assert c.values["first_name"] == "Ann" and c.values["last_name"] == "O'Brien"
    assert c.values["phone"] == "+13105550101" and c.values["date_of_birth"] == dt.date(1980, 1, 2)
    assert c.submitted == dt.datetime(2020, 2, 1, 10, 0) and c.ineligible == []


def test_pip_required_answers_each_give_a_reason_naming_the_question():
    cfg = example()
    program, live = pip_program(cfg)
    _c, [p] = run("pip", [pip_answers(affiliations=live, last_name="", email="", phone="",
                                      date_of_birth="2/30/1985")], cfg)
    text = "\n".join(p.reasons)
    assert f"'{program.questions['last_name']}': an answer is required" in text
    assert "no way to reach them" in text
    assert f"'{program.questions['date_of_birth']}': date 2/30/1985 does not exist" in text
    assert len(p.reasons) == 3


def test_pip_under_18_on_class_start_is_ineligible_with_the_reason():
    cfg = example()
    _program, live = pip_program(cfg)
    # 18 on 2020-03-06, one day after the Spring 2020 class starts
    [c], _ = run("pip", [pip_answers(affiliations=live, date_of_birth="3/6/2002")], cfg)
    assert c.ineligible == ["under 18 on the class start date 2020-03-05"]
    [ok], _ = run("pip", [pip_answers(affiliations=live, date_of_birth="3/5/2002")], cfg)
    assert ok.ineligible == []


def test_pip_without_torrance_affiliation_is_ineligible():
    [c], _ = run("pip", [pip_answers(affiliations="I live in Redondo Beach")])
    assert any("no Torrance affiliation" in r for r in c.ineligible)


def test_tap_rules():
    cfg = example()
    program = cfg.program("tap")
    base = {"submitted_at": "1/10/2020 10:00:00", "counselor_name": "Ms. Rivera",
            "student_first_name": "Ana", "student_last_name": "Diaz", "grade": "11th",
            "school": "south high", "guardian_name": "Rosa Diaz", "guardian_phone": "3105550170",
            "guardian_consent": "Yes"}
    rows = [base, {**base, "grade": "10"}, {**base, "school": "Redondo Union High School"},
            {**base, "guardian_consent": ""}]
    candidates, problems = run("tap", rows, cfg)
    assert candidates[0].ineligible == [] and candidates[0].values["school"] == "South High School"
    assert candidates[0].values["grade"] == 11
    assert "juniors and seniors" in candidates[1].ineligible[0]
    assert candidates[2].ineligible == ["not a Torrance Unified high school"]
    assert len(problems) == 1 and "guardian consent" in problems[0].reasons[0]
    assert program.questions["guardian_consent"] in problems[0].reasons[0]


def test_vsc_rules_from_config():
    base = {"submitted_at": "12/1/2020 10:00:00", "first_name": "Kim", "last_name": "Ng",
            "phone": "310-555-0150", "street": "2450 Sepulveda Blvd", "zip": 90503,
            "leave_date": "12/10/2020", "return_date": "12/20/2020"}
    rows = [base, {**base, "zip": "90277"}, {**base, "leave_date": "12/2/2020"},
            {**base, "return_date": "2/15/2021"}, {**base, "return_date": "12/3/2020"}]
    candidates, problems = run("vsc", rows)
    assert [c.ineligible for c in candidates[:1]] == [[]]
    assert "outside Torrance city limits" in candidates[1].ineligible[0]
    assert "48 hours' notice" in candidates[2].ineligible[0]
    assert "the longest absence checked is 30 days" in candidates[3].ineligible[0]
    assert "return date is before the leave date" in problems[0].reasons[0]
    assert candidates[0].values["zip"] == "90503"


def test_comma_inside_a_checkbox_option_is_not_split():
    cfg = example()
    program = cfg.program("pip")
    civic = next(k for k, v in program.options["affiliations"].items() if v == "civic")
    live = next(k for k, v in program.options["affiliations"].items() if v == "live")
    [c], _ = run("pip", [pip_answers(affiliations=f"{live}, {civic}")], cfg)
    assert c.values["affiliations"] == [live, civic]


def test_school_matching_tolerates_how_counselors_type_it():
    schools = ["Torrance High School", "North High School", "Shery High School"]
    assert match_school("Torrance High", schools) == "Torrance High School"
    assert match_school("shery high school ", schools) == "Shery High School"
    assert match_school("Redondo Union High School", schools) is None


def test_minimum_age_is_configurable(tmp_path):
    text = (REPO / "config" / "example.toml").read_text()
    text = text.replace("minimum_age = 18", "minimum_age = 21")
    path = tmp_path / "example.toml"
    path.write_text(textwrap.dedent(text))
    for f in (REPO / "config" / "examples").iterdir():
        (tmp_path / "examples").mkdir(exist_ok=True)
        (tmp_path / "examples" / f.name).write_bytes(f.read_bytes())
    cfg = config_mod.load(path)
    _p, live = pip_program(cfg)
    [c], _ = run("pip", [pip_answers(affiliations=live, date_of_birth="1/1/2000")], cfg)
    assert c.ineligible == ["under 21 on the class start date 2020-03-05"]


def test_rejected_answers_leave_no_reference_cycles():
    """A sync runs with full collections paused (sync.master.heap): an answer's error, remembered
    for the answers that repeat it, must not keep the run's frames, and through them every
    parsed response, alive in a cycle."""
    cfg = example()
    _program, live = pip_program(cfg)
    rows = [pip_answers(affiliations=live, date_of_birth="2/30/1985") for _ in range(3)]
    rows.append(pip_answers(affiliations=live))
    gc.collect()
    gc.disable()
    try:
        candidates, problems = run("pip", rows, cfg)
        assert len(candidates) == 1 and len(problems) == 3
        assert all("does not exist" in p.reasons[0] for p in problems)  # each one told why
        del candidates, problems
        assert _garbage_of_the_toolkit() == []
    finally:
        gc.enable()


def _garbage_of_the_toolkit() -> list[str]:
    """What a full collection finds unreachable that the toolkit made: its frames, and objects
    of its own types. Garbage other threads of the test run leave (a server's loop, a writer
    finishing) is not the toolkit's and is not counted."""
    package = os.sep + "sync" + os.sep
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = []
        for obj in gc.garbage:
            if isinstance(obj, types.FrameType) and package in obj.f_code.co_filename:
                found.append(f"frame of {obj.f_code.co_name}")
            elif type(obj).__module__.startswith("sync."):
                found.append(type(obj).__name__)
        return found
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
