"""Typed reads from one TOML table; every error names the file and the key."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from sync.errors import ConfigError


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
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (self.path.parent / p)))
