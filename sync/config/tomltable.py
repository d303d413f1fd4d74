"""Typed reads from one TOML table; every error names the file and the key.

Windows paths are the trap of TOML: inside double quotes a backslash starts an escape, so
"C:\\new\\folder" loads as "C:", a new line, "ew", a form feed and "older", without a word,
and "C:\\Users\\..." stops the parser with "Invalid hex value". A path-valued key refuses a
control character (no real file name holds one), and `parse` turns the parser's escape errors
into a message naming the line and the key; both say how to write the path (`WINDOWS_PATHS`).
`parse` also reads a file that Notepad saved with a UTF-8 byte-order mark, and names the line
of a file saved in another encoding ("ANSI") instead of failing with a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from sync.errors import ConfigError

WINDOWS_PATHS = ("write Windows paths in single quotes, 'C:\\new\\folder', or with forward "
                 "slashes, \"C:/new/folder\"")
_BOM = "\ufeff"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AT = re.compile(r"\(at line (\d+), column (\d+)\)$")
_ESCAPE_ERRORS = ("Invalid hex value", "Unescaped '\\'", "Illegal character")
_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def parse(path: Path, raw: bytes) -> dict[str, Any]:
    """The TOML document in `raw` (the bytes of `path`); ConfigError naming the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not saved as UTF-8 (the byte 0x{raw[err.start]:02X}); "
                          "open it in Notepad, choose File > Save As and set Encoding to UTF-8"
                          ) from None
    try:
        return tomllib.loads(text.removeprefix(_BOM))
    except tomllib.TOMLDecodeError as err:
        raise _decode_error(path, text.removeprefix(_BOM), err) from None


def _decode_error(path: Path, text: str, err: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(err)
    at = _AT.search(message)
    if at is None:
        return ConfigError(f"{path}: not valid TOML: {message}")
    number, column = int(at.group(1)), int(at.group(2))
    message = f"{message[:at.start()].rstrip()} (column {column})"
    lines = text.splitlines()
    line = lines[number - 1] if number <= len(lines) else ""
    key = _key_at(lines, number)
    where = f"{path}:{number}: {key + ': ' if key else ''}"
    if "\\" in line and message.startswith(_ESCAPE_ERRORS):
        return ConfigError(f"{where}not valid TOML: {message}. In double quotes a backslash "
                           f"starts an escape (\\n is a new line, \\U a character code): "
                           f"{WINDOWS_PATHS}")
    return ConfigError(f"{where}not valid TOML: {message}")


def _key_at(lines: list[str], number: int) -> str:
    """The dotted key set on line `number` (1-based), under the table header above it."""
    found = _KEY.match(lines[number - 1]) if 0 < number <= len(lines) else None
    if found is None:
        return ""
    table = next((m.group(1) for line in reversed(lines[:number - 1])
                  if (m := _TABLE.match(line))), "")
    name = found.group(1).replace('"', "").replace("'", "")
    return f"{table}.{name}" if table else name


class TableReader:
    """Reads typed values from a TOML table and names the key in every error."""

    def __init__(self, path: Path, table: dict[str, Any], where: str):
        self.path, self.table, self.where = path, table, where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.key(name)}: {message}")

    def sub(self, name: str, required: bool = False) -> TableReader:
        value = self.table.get(name, None)
        if value is None:
            if required:
                raise self.fail(name, "missing section")
            value = {}
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return TableReader(self.path, value, self.key(name))

    def only(self, allowed: set[str]) -> None:
        for name in self.table:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(name, f"unknown key (known keys: {known})")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., ) -> Any:
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "missing")
            return default
        value = self.table[name]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(name, f"must be {wanted}, got {value!r}")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if name in self.table and not value.strip():
            raise self.fail(name, "must not be empty")
        return value

    def number(self, name: str, default: Any = ..., minimum: int = 0) -> Any:
        value = self.get(name, int, default)
        if isinstance(value, int) and value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return value

    def date(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, (dt.date, str), default)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise self.fail(name, f"must be a date like 2020-03-05, got {value!r}") from None
        return value

    def time(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, (dt.time, str), default)
        if isinstance(value, str):
            try:
                return dt.time.fromisoformat(value)
            except ValueError:
                raise self.fail(name, f"must be a time like 18:00, got {value!r}") from None
        return value

    def strings(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, list, default)
        if value is default:
            return value
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, "must be a list of non-empty strings")
        return tuple(value)

    def path_value(self, name: str, default: Any = ...) -> Any:
        value = self.text(name, default)
        if not isinstance(value, str):
            return value
        if _CONTROL.search(value):
            raise self.fail(name, f"{value!r} holds a control character, which no file name "
                            "does: in double quotes a backslash starts an escape (\\n is a new "
                            f"line, \\t a tab, \\f a form feed); {WINDOWS_PATHS}")
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (self.path.parent / p)))
