"""`init`: a starter configuration and templates folder for a new department.

The starter is the bundled example configuration (every key explained in its comments),
with the output folder beside it and the sources turned into placeholders to fill in, so the
first `tpd-programs check` names exactly what is left to do. With `examples=True` the sample
form exports are copied too and the sources keep pointing at them, so the toolkit can be
tried offline before any Google setup. Existing files are never overwritten unless `force`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sync.errors import ConfigError
from sync.state import files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"
EXAMPLES = ROOT / "config" / "examples"
TEMPLATES = ROOT / "templates"
CONFIG_NAME = "programs.toml"
PLACEHOLDER = "paste the address of the form's response spreadsheet here"

_FILE_LINE = re.compile(r'^file = "examples/[^"]*"\n((?:#.*\n)*)', re.MULTILINE)
_HEADER = re.compile(r"\A(?:#.*\n)+\n")
# The example's comments for a file source and the key file, and what the starter says
# instead once it has made the spreadsheet and credentials lines active.
_LIVE_HOWTO = re.compile(r"^# To read the live responses instead, remove the file line and "
                         r"paste the address of the\n# form's response spreadsheet (.*) and its "
                         r"tab name:$", re.MULTILINE)
_LIVE_NOW = r"# The address of the form's response spreadsheet\n# \1 and its tab name:"
_CREDENTIALS_STEP = re.compile(r"^#   3\. Uncomment the credentials line\. \(The "
                               r"GOOGLE_APPLICATION_CREDENTIALS environment\n"
                               r"#      variable is used instead when the line is left out\.\)$",
                               re.MULTILINE)
_CREDENTIALS_NOW = ("#   3. Name the key file in the credentials line below. (Delete the line to "
                    "use the\n#      GOOGLE_APPLICATION_CREDENTIALS environment variable "
                    "instead.)")


@dataclass
class Starter:
    folder: Path
    config: Path
    written: list[Path] = field(default_factory=list)

    def render(self) -> str:
        templates = [p for p in self.written if p.parent.name == "templates"]
        examples = [p for p in self.written if p.parent.name == "examples"]
        lines = [f"Wrote {self.config}"]
        if templates:
            lines.append(f"Wrote {len(templates)} template file(s) in {self.folder / 'templates'}")
        if examples:
            lines.append(f"Wrote {len(examples)} sample export(s) in {self.folder / 'examples'}")
        lines.append(f"Next: edit {self.config} (the comments explain every setting), then run "
                     f"`tpd-programs check --config {self.config}` until every line is OK.")
        return "\n".join(lines)


def starter_config(example: str, *, examples: bool, today: dt.date) -> str:
    """The example configuration's text adapted for a new department."""
    header = (
        f"# Community Programs Toolkit: configuration (started {today.isoformat()} from the "
        "bundled example).\n"
        "#\n"
        "# Change what differs for your department, then run `tpd-programs check --config\n"
        "# <this file>` after every change: it validates this file, reaches each source and\n"
        "# checks that every question title below exists in the form's responses. Every error\n"
        "# message names the key to fix, e.g. \"programs.pip.questions.email\". The setup guide\n"
        "# (docs/setup.md) walks through Google, email and scheduling.\n"
        "#\n"
        "# Relative paths (export files, the output folder, the Google key file) are resolved\n"
        "# from the folder this file is in. Dates are written 2020-03-05, times 18:00.\n"
        "# Windows paths go in single quotes, exactly as Explorer shows them: 'D:\\TPD\\out'.\n"
        "# Inside double quotes a backslash starts an escape (\"C:\\new\" would hold a new\n"
        "# line), so there use forward slashes instead: \"D:/TPD/out\".\n\n"
    )
    text = _HEADER.sub(lambda _found: header, example, count=1)  # the header holds backslashes
    text = re.sub(r'^folder = "[^"]*"', 'folder = "out"', text, count=1, flags=re.MULTILINE)
    text = re.sub(r'^# written under this folder\..*$',
                  '# written under this folder: "out" is the out/ folder next to this file.',
                  text, count=1, flags=re.MULTILINE)
    if examples:
        return text

    def live(match: re.Match[str]) -> str:
        comments = _LIVE_HOWTO.sub(_LIVE_NOW, match.group(1), count=1)  # it is done here
        sheet = re.sub(r'^# spreadsheet = .*$', f'spreadsheet = "{PLACEHOLDER}"', comments,
                       count=1, flags=re.MULTILINE)
        sheet = re.sub(r'^# (worksheet = .*)$', r"\1", sheet, count=1, flags=re.MULTILINE)
        return (sheet + f'# Or read a downloaded export instead (remove the two lines above):\n'
                f'# {match.group(0).splitlines()[0]}\n')

    text = _FILE_LINE.sub(live, text)
    # the credentials line is made active, so the step that says to uncomment it says so
    text = _CREDENTIALS_STEP.sub(_CREDENTIALS_NOW, text, count=1)
    return re.sub(r'^# (credentials = .*)$', r"\1", text, count=1, flags=re.MULTILINE)


def write_starter(folder: Path, *, examples: bool = False, force: bool = False) -> Starter:
    """Write `folder/programs.toml` and `folder/templates/` (and `folder/examples/`)."""
    if not EXAMPLE.is_file():
        raise ConfigError(f"{EXAMPLE}: the example configuration is missing from this copy of "
                          "the toolkit; reinstall it from its source folder")
    folder = Path(folder)
    starter = Starter(folder, folder / CONFIG_NAME)
    copies: list[tuple[Path, Path]] = []
    for source_dir, name in ((TEMPLATES, "templates"), *(((EXAMPLES, "examples"),) if examples
                                                        else ())):
        if source_dir.is_dir():
            copies += [(p, folder / name / p.name) for p in sorted(source_dir.iterdir())
                       if p.is_file() and not p.name.startswith(".")]
    targets = [starter.config, *(dest for _src, dest in copies)]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]}: already exists ({len(existing)} of the starter's "
                          f"{len(targets)} files do); nothing was written. Use --force to "
                          "replace them with the starter versions")
    text = starter_config(EXAMPLE.read_text(encoding="utf-8"), examples=examples,
                          today=dt.date.today())
    _mkdir(folder)
    _write(starter.config, text.encode("utf-8"))
    starter.written.append(starter.config)
    for src, dest in copies:
        _mkdir(dest.parent)
        _write(dest, src.read_bytes())
        starter.written.append(dest)
    return starter


def _mkdir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write(path: Path, data: bytes) -> None:
    """Write owner-only, replacing any existing file in one step."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | files.O_BINARY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    files.replace(tmp, path)
    if os.name != "nt":
        os.chmod(path, 0o600)

