"""Small things that cost trust: -q prints only what needs a look, a preview is not a due
message, the Sync Log in the department's time in run order, unchanged workbooks left alone,
init's comments, and errors that say how to go on."""

from __future__ import annotations

import pytest

from sync import cli
from tests.helpers import decided, make_site


@pytest.fixture
def decided_site(tmp_path):
    (tmp_path / "decided").mkdir()
    return decided(make_site(tmp_path / "decided"))


def test_quiet_prints_only_what_needs_a_look(site, decided_site, capsys, restore_logging):
    """`-q` ("errors only") printed every summary line; now a clean command prints nothing,
    and one with records to look at prints those lines only."""
    assert cli.main(["sync", "--config", str(site.config_path), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["sync", "--config", str(site.config_path)]) == 0
    assert "Partners in Policing: 3 rows read" in capsys.readouterr().out  # without -q

    config = str(decided_site.config_path)
    assert cli.main(["confirmations", "--config", config, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["  PIP-00003: pip-accepted: not sent: no email"]
    assert cli.main(["rosters", "--config", config, "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["check", "--config", config, "-q"]) == 0
    assert "OK " not in capsys.readouterr().out


def test_a_preview_is_not_counted_as_due(decided_site, capsys, restore_logging):
    """`--preview PIP-00001` said "1 confirmations due" right after a run said 0 were due."""
    config = str(decided_site.config_path)
    assert cli.main(["confirmations", "--config", config]) == 0
    assert cli.main(["confirmations", "--config", config, "--preview", "PIP-00001"]) == 0
    out = capsys.readouterr().out.split("== pip-accepted ==")[1]
    assert "confirmations due" not in out
    assert "Previewed 1 message(s)" in out and "nothing was written or sent" in out
