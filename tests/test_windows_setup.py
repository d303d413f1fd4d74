"""Windows set-up, simulated on Linux: folder permissions, the scheduled task and its log.

- `check` reads who can open the output folder and the Google key with `icacls`, as on
  Windows: `os.name` is "nt" for the checking modules only (`nt_os`), and a fake
  `%SystemRoot%\\System32\\icacls.exe` prints recorded outputs (English, German in the OEM
  code page, French, Spanish, odd and broken ones).
- An unexpected error in any command is one line on the screen, its type and frames in the
  log (never its message), and for `run` a failure notice.
- The Task Scheduler files and the Windows part of the setup guide say what they must.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from sync import cli
from sync import config as config_mod
from sync.check import check_file
from sync.state import logfile
from tests.conftest import PIP_CONFIG, REPO, Site
from tests.fake_google import FakeGoogle
from tests.helpers import HEADER, KEY, ROW, google_site, lines
from tests.loopback_smtp import LoopbackSmtp

USER, DOMAIN = "jlopez", "DESKTOP-7QK2M"

# -- recorded icacls outputs ({path} is the path asked about; {pad} lines up the entries) --

# A folder made under C:\ inherits "Users: read" and "Authenticated Users: modify".
INHERITED_FROM_C = """\
{path} BUILTIN\\Administrators:(I)(OI)(CI)(F)
{pad}NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)
{pad}BUILTIN\\Users:(I)(OI)(CI)(RX)
{pad}NT AUTHORITY\\Authenticated Users:(I)(M)
{pad}NT AUTHORITY\\Authenticated Users:(I)(OI)(CI)(IO)(M)

Successfully processed 1 files; Failed processing 0 files
"""

# After the setup guide's icacls line.
PROTECTED = """\
{path} DESKTOP-7QK2M\\jlopez:(OI)(CI)(F)
{pad}NT AUTHORITY\\SYSTEM:(OI)(CI)(F)
{pad}BUILTIN\\Administrators:(OI)(CI)(F)

Successfully processed 1 files; Failed processing 0 files
"""

# A folder under the staff member's profile, C:\Users\jlopez.
UNDER_PROFILE = """\
{path} NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)
{pad}BUILTIN\\Administrators:(I)(OI)(CI)(F)
{pad}desktop-7qk2m\\JLOPEZ:(I)(OI)(CI)(F)

Successfully processed 1 files; Failed processing 0 files
"""

GERMAN_INHERITED = """\
{path} VORDEFINIERT\\Administratoren:(I)(OI)(CI)(F)
{pad}NT-AUTORITÄT\\SYSTEM:(I)(OI)(CI)(F)
{pad}VORDEFINIERT\\Benutzer:(I)(OI)(CI)(RX)
{pad}NT-AUTORITÄT\\Authentifizierte Benutzer:(I)(M)
{pad}NT-AUTORITÄT\\Authentifizierte Benutzer:(I)(OI)(CI)(IO)(M)

1 Dateien erfolgreich verarbeitet, bei 0 Dateien ist ein Fehler aufgetreten.
"""

GERMAN_PROTECTED = """\
{path} DESKTOP-7QK2M\\jlopez:(OI)(CI)(F)
{pad}NT-AUTORITÄT\\SYSTEM:(OI)(CI)(F)
{pad}VORDEFINIERT\\Administratoren:(OI)(CI)(F)

1 Dateien erfolgreich verarbeitet, bei 0 Dateien ist ein Fehler aufgetreten.
"""

FRENCH_PROTECTED = """\
{path} DESKTOP-7QK2M\\jlopez:(OI)(CI)(F)
{pad}AUTORITE NT\\Système:(OI)(CI)(F)
{pad}BUILTIN\\Administrateurs:(OI)(CI)(F)
{pad}CREATEUR PROPRIETAIRE:(OI)(CI)(IO)(F)

1 fichiers correctement traités ; échec du traitement de 0 fichiers
"""

SPANISH_EVERYONE = """\
{path} Todos:(OI)(CI)(R)
{pad}DESKTOP-7QK2M\\jlopez:(OI)(CI)(F)
{pad}NT AUTHORITY\\SYSTEM:(OI)(CI)(F)
{pad}BUILTIN\\Administradores:(OI)(CI)(F)

Se procesaron correctamente 1 archivos; error al procesar 0 archivos
"""

KEY_FOR_EVERYONE = """\
{path} Everyone:(R)
{pad}DESKTOP-7QK2M\\jlopez:(I)(F)
{pad}NT AUTHORITY\\SYSTEM:(I)(F)
{pad}BUILTIN\\Administrators:(I)(F)

Successfully processed 1 files; Failed processing 0 files
"""

KEY_PROTECTED = """\
{path} DESKTOP-7QK2M\\jlopez:(F)
{pad}NT AUTHORITY\\SYSTEM:(F)
{pad}BUILTIN\\Administrators:(F)

Successfully processed 1 files; Failed processing 0 files
"""

ANOTHER_PERSON_AND_A_DELETED_ACCOUNT = """\
{path} DESKTOP-7QK2M\\jlopez:(I)(OI)(CI)(F)
{pad}DESKTOP-7QK2M\\helpdesk:(I)(OI)(CI)(RX)
{pad}S-1-5-21-3623811015-3361044348-30300820-1013:(I)(OI)(CI)(M)
{pad}NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)

Successfully processed 1 files; Failed processing 0 files
"""

# A deny entry, a "no access" entry and an integrity label grant nothing.
DENY_AND_LABEL = """\
{path} Everyone:(OI)(CI)(DENY)(W)
{pad}BUILTIN\\Guests:(N)
{pad}DESKTOP-7QK2M\\jlopez:(OI)(CI)(F)
{pad}NT AUTHORITY\\SYSTEM:(OI)(CI)(F)
{pad}BUILTIN\\Administrators:(OI)(CI)(F)
{pad}Mandatory Label\\High Mandatory Level:(OI)(NP)(IO)(NW)

Successfully processed 1 files; Failed processing 0 files
"""

# The same account name on the domain is another account than the local one.
DOMAIN_NAMESAKE = PROTECTED.replace("DESKTOP-7QK2M\\jlopez", "TPD\\jlopez")

ACCESS_DENIED = "{path}: Access is denied.\nSuccessfully processed 0 files; Failed processing 1 files\n"
NOT_AN_ACL = "{path}\n    something icacls has never printed\n\nSuccessfully processed 1 files\n"
ENTRY_THEN_NOISE = """\
{path} NT AUTHORITY\\SYSTEM:(OI)(CI)(F)
{pad}(special access:)
{pad}    FILE_READ_DATA

Successfully processed 1 files; Failed processing 0 files
"""


FAKE_ICACLS = pytest.mark.skipif(os.name == "nt", reason="the stand-in icacls.exe is a script "
                                 "with a #! line, which Windows cannot run")


class FakeIcacls:
    """`%SystemRoot%\\System32\\icacls.exe`: prints the recorded output set for a path (or for
    every path), in the given encoding with CRLF line ends, and exits with the given code."""

    def __init__(self, root: Path):
        self.system32 = root / "Windows" / "System32"
        self.system32.mkdir(parents=True)
        self.table = root / "icacls-outputs.json"
        self.outputs: dict[str, list] = {}
        exe = self.system32 / "icacls.exe"
        exe.write_text(textwrap.dedent(f"""\
            #!{sys.executable}
            import json, sys
            path = sys.argv[1]
            outputs = json.load(open({str(self.table)!r}, encoding="utf-8"))
            text, encoding, code = outputs.get(path) or outputs["*"]
            pad = " " * (len(path) + 1)
            text = text.replace("{{path}}", path).replace("{{pad}}", pad).replace("\\n", "\\r\\n")
            sys.stdout.buffer.write(text.encode(encoding))
            sys.exit(code)
            """))
        exe.chmod(0o700)

    def answer(self, sample: str, path: Path | str = "*", encoding: str = "utf-8",
               code: int = 0) -> None:
        self.outputs[str(path)] = [sample, encoding, code]
        self.table.write_text(json.dumps(self.outputs), encoding="utf-8")


class _NtOs(types.ModuleType):
    """The `os` module as a Windows build shows it: name "nt", everything else real."""

    name = "nt"

    def __getattr__(self, attr: str):
        return getattr(os, attr)


@pytest.fixture
def nt_os(monkeypatch, tmp_path: Path) -> FakeIcacls:
    """`os.name == "nt"` for the modules that ask, USERNAME and USERDOMAIN as on Windows, and
    a fake icacls under %SystemRoot%. (Patching `os.name` itself would break pathlib here.)"""
    import sync.check

    modules = [sync.check]
    try:
        import sync.state.winacl
    except ImportError:  # before the access-list check existed
        pass
    else:
        modules.append(sync.state.winacl)
    for module in modules:
        monkeypatch.setattr(module, "os", _NtOs("os"))
    monkeypatch.setenv("USERNAME", USER)
    monkeypatch.setenv("USERDOMAIN", DOMAIN)
    fake = FakeIcacls(tmp_path / "winroot")
    monkeypatch.setenv("SystemRoot", str(fake.system32.parent))
    return fake


@pytest.fixture
def site(tmp_path: Path) -> Site:
    (tmp_path / "site").mkdir()
    s = Site(tmp_path / "site")
    s.write_pip(['3/1/2020 10:00:00,ann@example.com,Ann,Smith,1/2/1980,(310) 555-0101,'
                 'I live in Torrance,'])
    s.out.mkdir()
    return s


# -- 4. who can open the output folder and the key ----------------------------------------


@FAKE_ICACLS
def test_windows_check_fixes_a_folder_every_user_can_open(site: Site, nt_os: FakeIcacls):
    """Regression: on Windows `check` skipped the permissions test, so a folder under C:\\
    that every local user can read (the state, master.xlsx, the key) passed as OK."""
    nt_os.answer(INHERITED_FROM_C)
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert not ok
    assert "BUILTIN\\Users" in detail and "NT AUTHORITY\\Authenticated Users" in detail
    assert "Administrators" not in detail.split(" can open it")[0]
    assert (f'icacls "{site.out}" /inheritance:r /grant:r "{DOMAIN}\\{USER}:(OI)(CI)F" '
            '"SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F"') in detail
    assert cli.main(["check", "--config", str(site.config_path)]) == 1


@FAKE_ICACLS
@pytest.mark.parametrize(("sample", "encoding"), [
    (PROTECTED, "utf-8"),
    (UNDER_PROFILE, "utf-8"),
    (GERMAN_PROTECTED, "cp850"),     # the console's OEM code page
    (FRENCH_PROTECTED, "utf-8"),     # under `chcp 65001`, as run-daily.cmd sets
    (PROTECTED, "utf-16"),           # with a byte order mark
    (DENY_AND_LABEL, "utf-8"),
], ids=["protected", "under the profile", "German", "French", "UTF-16", "deny and label"])
def test_windows_check_accepts_a_protected_folder(site: Site, nt_os: FakeIcacls, sample: str,
                                                  encoding: str):
    nt_os.answer(sample, encoding=encoding)
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert ok, detail
    assert detail.startswith(f"{site.out}: writable")


@FAKE_ICACLS
@pytest.mark.parametrize(("sample", "encoding", "named"), [
    (GERMAN_INHERITED, "cp850", ["VORDEFINIERT\\Benutzer", "Authentifizierte Benutzer"]),
    (SPANISH_EVERYONE, "cp850", ["Todos"]),
    (ANOTHER_PERSON_AND_A_DELETED_ACCOUNT, "utf-8",
     ["DESKTOP-7QK2M\\helpdesk", "S-1-5-21-3623811015-3361044348-30300820-1013"]),
    (DOMAIN_NAMESAKE, "utf-8", ["TPD\\jlopez"]),
], ids=["German", "Spanish Everyone", "another person", "domain namesake"])
def test_windows_check_names_every_other_account(site: Site, nt_os: FakeIcacls, sample: str,
                                                 encoding: str, named: list[str]):
    nt_os.answer(sample, encoding=encoding)
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert not ok
    for account in named:
        assert account in detail
    accounts = detail.split(" can open it")[0]
    for allowed in ("SYSTEM", "Administrat", f"{DOMAIN}\\{USER}"):
        assert allowed not in accounts


@FAKE_ICACLS
@pytest.mark.parametrize(("sample", "code", "reason"), [
    (ACCESS_DENIED, 5, "Access is denied"),
    (NOT_AN_ACL, 0, "output not understood"),
    (ENTRY_THEN_NOISE, 0, "output not understood"),
    ("", 0, "output not understood"),
], ids=["access denied", "not an access list", "entry then noise", "nothing"])
def test_windows_check_warns_when_icacls_says_something_else(site: Site, nt_os: FakeIcacls,
                                                             sample: str, code: int,
                                                             reason: str, capsys):
    """Output that is not an access list is neither OK nor a traceback: a WARN line that
    says how to protect the folder by hand. The check still passes."""
    nt_os.answer(sample, code=code)
    report = check_file(site.config_path)
    rendered = report.render()
    line = next(x for x in rendered.splitlines() if "output folder" in x)
    assert line.startswith("WARN output folder")
    assert reason in line
    assert "docs/setup.md" in line
    assert report.ok
    assert cli.main(["check", "--config", str(site.config_path)]) == 0
    assert "WARN" in capsys.readouterr().out


@FAKE_ICACLS
def test_windows_check_warns_without_icacls(site: Site, nt_os: FakeIcacls):
    (nt_os.system32 / "icacls.exe").unlink()
    report = check_file(site.config_path)
    line = next(x for x in report.render().splitlines() if "output folder" in x)
    assert line.startswith("WARN output folder")
    assert "icacls could not be run" in line


@FAKE_ICACLS
def test_windows_check_of_a_folder_not_made_yet(site: Site, nt_os: FakeIcacls):
    """A folder the first run will make inherits its parent's access list: FIX it by making
    the folder and protecting it, never by touching the parent (it may be C:\\)."""
    site.out.rmdir()
    nt_os.answer(INHERITED_FROM_C, path=site.root)
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert not ok
    assert "BUILTIN\\Users" in detail
    assert f'mkdir "{site.out}"' in detail
    assert f'icacls "{site.out}" /inheritance:r' in detail
    assert f'icacls "{site.root}"' not in detail
    nt_os.answer(PROTECTED, path=site.root)
    assert lines(check_file(site.config_path))["output folder"] == (
        True, f"{site.out}: will be created by the first run")


@FAKE_ICACLS
def test_windows_check_fixes_a_key_everyone_can_read(tmp_path: Path, fake_google: FakeGoogle,
                                                     nt_os: FakeIcacls):
    fake_google.add_spreadsheet(KEY, tabs={"Form Responses 1": [HEADER, ROW]})
    path = google_site(tmp_path, fake_google)
    key = path.parent / "service-account.json"
    assert key.exists()
    nt_os.answer(PROTECTED)
    nt_os.answer(KEY_FOR_EVERYONE, path=key)
    found = lines(check_file(path))
    ok, detail = found["google credentials"]
    assert not ok
    assert "Everyone" in detail
    assert f'icacls "{key}" /inheritance:r /grant:r "{DOMAIN}\\{USER}:F" "SYSTEM:F"' in detail
    assert found["pip source"][0]  # the key still works: the sources were checked
    nt_os.answer(KEY_PROTECTED, path=key)
    ok, detail = lines(check_file(path))["google credentials"]
    assert ok, detail


def test_parse_keeps_explicit_and_inherited_apart():
    from sync.state.winacl import parse

    path = "C:\\tpd-programs\\out"
    text = (INHERITED_FROM_C.replace("{path}", path).replace("{pad}", " " * (len(path) + 1)))
    entries = parse(text, path)
    assert [e.account for e in entries] == [
        "BUILTIN\\Administrators", "NT AUTHORITY\\SYSTEM", "BUILTIN\\Users",
        "NT AUTHORITY\\Authenticated Users", "NT AUTHORITY\\Authenticated Users"]
    assert all(e.inherited for e in entries)
    assert entries[2].rights == ("I", "OI", "CI", "RX")


@FAKE_ICACLS
def test_explicit_entries_for_others_are_removed_by_the_fix(site: Site, nt_os: FakeIcacls):
    """/inheritance:r drops inherited entries only; an explicit "Everyone" needs /remove:g."""
    nt_os.answer(SPANISH_EVERYONE)
    ok, detail = lines(check_file(site.config_path))["output folder"]
    assert not ok
    assert f'icacls "{site.out}" /remove:g "Todos"' in detail


# -- 5. failures under the scheduler ----------------------------------------------------------

SECRET = "Jane Q. Doe, jane.doe@example.com, 1234 Elm St"


def _raise_with_personal_data(*_args, **_kwargs):
    message = SECRET  # the message is data; the frames show only this code
    raise RuntimeError(message)


def test_unexpected_error_is_one_line_and_a_log_entry_without_its_message(
        site: Site, monkeypatch, capsys):
    """Regression: an exception outside the toolkit's own errors reached the screen as a
    traceback (message and all) and never the log file."""
    monkeypatch.setitem(cli.HANDLERS, "sync", _raise_with_personal_data)
    assert cli.main(["sync", "--config", str(site.config_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tpd-programs: unexpected RuntimeError at test_windows_setup.py:")
    log = logfile.log_path(site.out)
    assert f"the log file {log} has the details" in err
    text = log.read_text(encoding="utf-8")
    assert "sync failed: unexpected RuntimeError" in text
    assert "_raise_with_personal_data" in text  # the frames
    for part in ("Jane", "Doe", "jane.doe", "Elm"):
        assert part not in captured.out + captured.err + text


def _notifying_site(root: Path, port: int) -> Site:
    """A site with no responses whose failure notices go to the loopback server at `port`."""
    site = Site(root, PIP_CONFIG + textwrap.dedent(f"""
        [smtp]
        host = "127.0.0.1"
        port = {port}
        security = "none"
        from = "Community Programs <programs@example.org>"
        notify = ["staff@example.org"]
        """))
    site.write_pip([])
    return site


def test_unexpected_error_in_run_still_sends_the_failure_notice(tmp_path: Path, monkeypatch,
                                                                capsys):
    import sync.run

    with LoopbackSmtp() as server:
        site = _notifying_site(tmp_path, server.port)
        monkeypatch.setattr(sync.run, "run", _raise_with_personal_data)
        assert cli.main(["run", "--config", str(site.config_path)]) == 1
        captured = capsys.readouterr()
        assert len(server.messages) == 1
    _sender, recipients, notice = server.messages[0]
    assert recipients == ["staff@example.org"]
    assert notice["Subject"].endswith("failed (run)")
    body = notice.get_content()
    assert "unexpected RuntimeError at test_windows_setup.py:" in body
    assert "report it" in body
    assert "Failure notice sent to 1 address(es)." in captured.err
    text = logfile.log_path(site.out).read_text(encoding="utf-8")
    for part in ("Jane", "Doe", "jane.doe", "Elm"):
        assert part not in captured.out + captured.err + text + body


def test_a_toolkit_error_outside_the_steps_of_run_is_notified_too(tmp_path: Path, monkeypatch,
                                                                  capsys):
    """The run stops before any step (here: the lock file cannot be made): staff hear of it."""
    import sync.run
    from sync.errors import SyncError

    def cannot_start(config):
        raise SyncError(f"{config.output}: cannot create the lock file (disk full)")

    with LoopbackSmtp() as server:
        site = _notifying_site(tmp_path, server.port)
        monkeypatch.setattr(sync.run, "run", cannot_start)
        assert cli.main(["run", "--config", str(site.config_path)]) == 1
        assert len(server.messages) == 1
    assert "cannot create the lock file" in server.messages[0][2].get_content()
    assert "Failure notice sent" in capsys.readouterr().err


def test_the_output_folder_helper_finds_the_logs_folder(tmp_path: Path):
    """scripts/windows/output_folder.py tells run-daily.cmd where to write its log: the
    output folder's logs (made if need be), as the toolkit resolves it; nothing (exit 1)
    when the configuration cannot be read, so the wrapper logs beside itself."""
    helper = REPO / "scripts" / "windows" / "output_folder.py"
    (tmp_path / "site").mkdir()
    site = Site(tmp_path / "site")
    expected = config_mod.load(site.config_path).output / "logs"
    done = subprocess.run([sys.executable, str(helper), str(site.config_path), "--logs"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{expected}\n"
    assert expected.is_dir()
    done = subprocess.run([sys.executable, str(helper), str(site.config_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == f"{expected.parent}\n"
    # Only [output] folder is read: a configuration with another mistake still logs there.
    site.config_path.write_text(site.config_path.read_text().replace(
        'folder = "out"', 'folder = \'elsewhere/out\'\nbackups = "many"'))
    done = subprocess.run([sys.executable, str(helper), str(site.config_path), "--logs"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == f"{site.root / 'elsewhere' / 'out' / 'logs'}\n"
    site.config_path.write_text("")  # no [output] table: the default folder, "out"
    done = subprocess.run([sys.executable, str(helper), str(site.config_path)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"{site.root / 'out'}\n")
    site.config_path.write_text("[output\nfolder = 1")
    done = subprocess.run([sys.executable, str(helper), str(site.config_path), "--logs"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    done = subprocess.run([sys.executable, str(helper), str(tmp_path / "missing.toml")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")


def _cmd_lines(name: str) -> list[str]:
    text = (REPO / "scripts" / "windows" / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().lower().startswith("rem")]


def test_run_daily_cmd_logs_in_utf8_and_keeps_the_exit_code():
    """Regression: the wrapper wrote nothing anywhere, so a scheduled run that failed before
    the toolkit's log was open left no trace. It must send stdout and stderr to a log under
    the output folder (beside the script when that is unknown), in UTF-8, and exit with the
    toolkit's code."""
    code = _cmd_lines("run-daily.cmd")
    text = "\n".join(code)
    assert 'set "PYTHONUTF8=1"' in code
    assert any(line.startswith("chcp 65001") for line in code)
    assert "output_folder.py" in text and "--logs" in text
    assert 'set "LOG=%LOGDIR%\\run-daily.log"' in code
    # The whole job (venv check, secrets, the run) goes through one redirected call.
    call = next(line for line in code if line.startswith("call :job"))
    assert call.endswith('>>"%LOG%" 2>&1')
    assert text.index("call :job") < text.index(":job\n")
    job = text[text.index(":job\n"):]
    assert "no virtual environment" in job and "tpd-programs run" in job
    after = code[code.index(call) + 1:]
    assert after[0] == 'set "CODE=%ERRORLEVEL%"'
    assert text.split("\n:job\n")[0].endswith("exit /b %CODE%")


# -- 6. the scheduled task and the setup guide -----------------------------------------------


def test_register_task_settings():
    """Battery starts on, stored-password logon offered for network paths, mapped drives
    refused (they do not exist in the task's session)."""
    script = (REPO / "scripts" / "windows" / "register-task.ps1").read_text(encoding="utf-8")
    settings = script[script.index("New-ScheduledTaskSettingsSet"):]
    settings = settings[:settings.index("\n$")]
    for switch in ("-AllowStartIfOnBatteries", "-DontStopIfGoingOnBatteries",
                   "-StartWhenAvailable", "-MultipleInstances IgnoreNew"):
        assert switch in settings, switch
    assert "-LogonType S4U" in script  # no password stored when everything is local
    assert "-Password" in script and "[switch]$WithPassword" in script
    assert "DriveType" in script and "Network" in script  # a mapped drive letter is refused
    assert 'StartsWith("\\\\")' in script  # a \\server\share path needs -WithPassword
    assert "output_folder.py" in script  # the output folder is checked, not only the config
    assert "run-daily.log" in script


def test_setup_guide_windows_section():
    guide = (REPO / "docs" / "setup.md").read_text(encoding="utf-8")
    windows = guide[guide.index("## 8. Windows"):]
    for topic in (
        # protecting the folder
        "/inheritance:r", '/grant:r "%USERDOMAIN%\\%USERNAME%:(OI)(CI)F" "SYSTEM:(OI)(CI)F" '
        '"Administrators:(OI)(CI)F"', "${env:USERNAME}", "C:\\Users\\", "*S-1-5-32-544",
        # paths in TOML
        "folder = 'C:\\tpd-programs\\out'", "C:/tpd-programs/out", '"C:\\new',
        # the scheduled task
        "register-task.ps1", "-WithPassword", "\\\\server\\share", "mapped", "battery",
        # its log
        "run-daily.log", "scripts\\windows\\run-daily.log", "tpd-programs.log",
        # what only a simulation checked
        "### Checked only by simulation on Linux",
    ):
        assert topic in windows, topic
    assert "8. [Windows PCs" in guide  # in the table of contents
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    owner_only = next(p for p in readme.split("\n\n") if "readable by its owner only" in p)
    assert "Windows" in owner_only and "docs/setup.md" in owner_only
    scripts = (REPO / "scripts" / "README.md").read_text(encoding="utf-8")
    assert "mapped" in scripts and "\\\\server\\share" in scripts and "run-daily.log" in scripts
