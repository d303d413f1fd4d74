"""Who besides its owner can open a file or folder on Windows, read from `icacls`.

POSIX says it in mode bits (`chmod 700`); Windows keeps an access list per file instead, and
mode bits given to `os.mkdir` or `os.open` are ignored there. A folder made under `C:\\`
inherits "Users: read" and "Authenticated Users: modify" from the drive, so the state file,
the master workbook and the Google key are open to every account of the computer unless the
folder is protected (docs/setup.md, "Protecting the folder"). `check` uses this module to say
so, and what to run.

Why `icacls`: it ships with every Windows since Vista and needs no package. Reading the list
through the Win32 API would need pywin32, or ctypes code that no test here can run. Its
output is parsed conservatively:

- one entry per line, `ACCOUNT:(flag)...(rights)`; a deny entry, a "no access" `(N)` entry
  and an integrity label (`(NW)`, `(NR)`, `(NX)`) grant nothing and are skipped;
- every other entry, whatever its rights, for an account that is not the current user
  (USERDOMAIN\\USERNAME), SYSTEM, Administrators or CREATOR OWNER is someone else who can
  open it: Everyone, Users, Authenticated Users, another person, an unresolved SID;
- Windows translates those account names ("VORDEFINIERT\\Administratoren"); the four are
  recognised in the languages below, and by their well-known SIDs. An unknown name counts
  as someone else: the FIX line names it, so staff can see a false alarm for what it is;
- output of another shape (an error, a newer icacls) raises `UnknownAcl`: `check` then says
  WARN with the way to protect the folder by hand, never OK and never a traceback.

The output's encoding depends on the console: UTF-16 with a byte order mark, UTF-8 (under
`chcp 65001`, as run-daily.cmd sets) or the OEM code page; it is decoded in that order.
"""

from __future__ import annotations

import codecs
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 30  # seconds; icacls answers at once, unless the folder is on a share that hangs

# The accounts that may open the toolkit's files besides the staff account, as icacls names
# them in English, German, French, Spanish, Portuguese, Italian and Dutch Windows.
_SYSTEM = {"nt authority\\system", "nt-autorität\\system", "autorite nt\\système",
           "autorité nt\\système", "autoridade nt\\sistema", "system"}
_ADMINISTRATORS = {f"{domain}\\{name}" for domain in ("builtin", "vordefiniert", "")
                   for name in ("administrators", "administratoren", "administrateurs",
                                "administradores")} | {"administrators"}
_CREATOR_OWNER = {"creator owner", "ersteller-besitzer", "createur proprietaire",
                  "créateur propriétaire", "propietario creador", "proprietário criador"}
_WELL_KNOWN_SIDS = {"s-1-5-18", "s-1-5-32-544", "s-1-3-0"}  # SYSTEM, Administrators, CREATOR OWNER
_ALLOWED = _SYSTEM | _ADMINISTRATORS | _CREATOR_OWNER | _WELL_KNOWN_SIDS

_ENTRY = re.compile(r"(?P<account>[^:()]+?):(?P<rights>(?:\([^()]*\))+)")
_INHERITANCE = {"I", "OI", "CI", "IO", "NP"}
_LABEL = {"NW", "NR", "NX"}


class UnknownAcl(Exception):
    """icacls could not be run, failed, or printed something that is not an access list."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    account: str
    rights: tuple[str, ...]  # every parenthesised group, e.g. ("I", "OI", "CI", "RX")

    @property
    def inherited(self) -> bool:
        return "I" in self.rights

    @property
    def grants(self) -> bool:
        """Whether the entry lets its account do anything at all."""
        rest = [r for r in self.rights if r not in _INHERITANCE]
        if "DENY" in rest or not rest:
            return False
        return not (all(r == "N" for r in rest) or set(rest) <= _LABEL)


def parse(text: str, path: str) -> list[Entry]:
    """The entries of `icacls PATH`'s output; UnknownAcl if it is not shaped like one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = lines[0].lstrip("\ufeff")
    if not first.casefold().startswith(path.casefold() + " "):
        raise UnknownAcl("output not understood")
    block = [first[len(path):]]
    for line in lines[1:]:
        if not line.strip():
            break  # the entries end at the first blank line; then a summary, translated
        block.append(line)
    entries = []
    for line in block:
        m = _ENTRY.fullmatch(line.strip())
        if m is None:
            raise UnknownAcl("output not understood")
        rights = tuple(r.strip() for r in re.findall(r"\(([^()]*)\)", m.group("rights")))
        entries.append(Entry(m.group("account").strip(), rights))
    return entries


def others(entries: list[Entry], user: str, domain: str) -> list[str]:
    """The accounts, besides `domain\\user`, SYSTEM, Administrators and CREATOR OWNER, that an
    entry grants anything to; each once, in the list's order."""
    me = {f"{domain}\\{user}".casefold()} if domain else {user.casefold()}
    if not domain:
        me |= {e.account.casefold() for e in entries
               if e.account.casefold().rpartition("\\")[2] == user.casefold()}
    found: list[str] = []
    for entry in entries:
        name = entry.account.casefold().lstrip("*")
        if not entry.grants or name in me or name in _ALLOWED or entry.account in found:
            continue
        found.append(entry.account)
    return found


def current_user() -> tuple[str, str]:
    """(user, domain) of the account running this, as Windows sets them for every process."""
    return os.environ.get("USERNAME", ""), os.environ.get("USERDOMAIN", "")


def who_else(path: Path) -> tuple[list[str], list[str]]:
    """(accounts besides the current user and the system's own that can open `path`, those
    of them granted by an entry of `path` itself rather than inherited). UnknownAcl when the
    list cannot be read."""
    text = _icacls(path)
    entries = parse(text, str(path))
    user, domain = current_user()
    found = others(entries, user, domain)
    explicit = [a for a in found
                if any(e.account == a and e.grants and not e.inherited for e in entries)]
    return found, explicit


def protect_command(path: Path, folder: bool, remove: Sequence[str] = ()) -> str:
    """The icacls line(s) that leave `path` to the current user, SYSTEM and Administrators:
    inherited entries removed, explicit ones for `remove` too."""
    user, domain = current_user()
    account = f"{domain}\\{user}" if domain else (user or "%USERNAME%")
    how = "(OI)(CI)F" if folder else "F"
    line = (f'icacls "{path}" /inheritance:r /grant:r "{account}:{how}" "SYSTEM:{how}" '
            f'"Administrators:{how}"')
    if remove:
        line += f'; then icacls "{path}" /remove:g ' + " ".join(f'"{a}"' for a in remove)
    return line


def _icacls(path: Path) -> str:
    root = os.environ.get("SystemRoot") or os.environ.get("windir") or "C:\\Windows"
    exe = Path(root) / "System32" / "icacls.exe"  # never one found first on PATH
    try:
        done = subprocess.run([str(exe), str(path)], capture_output=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise UnknownAcl(f"icacls could not be run: {reason}") from None
    text = decode(done.stdout + done.stderr)
    if done.returncode != 0:
        said = next((line.strip() for line in text.splitlines() if line.strip()), "")
        raise UnknownAcl(f"icacls failed (exit code {done.returncode}): {said}"[:300])
    return text


def decode(data: bytes) -> str:
    """icacls's bytes as text: UTF-16 with a byte order mark, else UTF-8, else the console's
    OEM code page (never an error: an undecodable byte becomes U+FFFD)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in ("oem", "cp850"):  # "oem" exists on Windows only
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:
            continue
    return data.decode("latin-1")
