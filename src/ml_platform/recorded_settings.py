"""The settings a platform was started with, kept in its home so that the commands after ``up`` find the same one.

``make up-celery`` starts the platform with ``ML_PLATFORM_EXECUTOR=celery``, an external database and a broker;
a ``make status`` or ``ml-pipeline dlq list`` typed later in a shell without them would look for an embedded
database and the default broker. So ``up`` records the platform's settings from its environment (every
``ML_PLATFORM_*`` but the home itself, and the folders ``ML_PIPELINE_*`` names) in ``<home>/platform.env``
(mode 0600: a database URL may hold a password), and each later command takes from there what its own
environment does not set: a variable set in the shell always wins. The file is shell syntax, so another machine's
worker can take the same settings with ``set -a; . <home>/platform.env; set +a``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from ml_platform.secrets import write_private
from ml_platform.state import home_is_a_file

FILE_NAME = "platform.env"
RECORDED_PREFIXES = ("ML_PLATFORM_",)
RECORDED_NAMES = ("ML_PIPELINE_CONFIG_DIR", "ML_PIPELINE_RULES_DIR", "ML_PIPELINE_CODE_DIR")
NOT_RECORDED = ("ML_PLATFORM_HOME",)  # the file's own place: the shell's choice, never the file's


class RecordedSettingsError(ValueError):
    """The settings file cannot be read; the message names the file, the line and the fix."""


class PortSettingError(RecordedSettingsError):
    """A port variable that is not a port (from the shell or the settings file); the message names it."""


def port_setting(name: str, default: int) -> int:
    """The port in the environment variable ``name`` (``default`` when unset); ``PortSettingError`` if not a port."""
    text = os.environ.get(name, str(default))
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise PortSettingError(f"{name}={text!r} is not a port: set it to a number from 1 to 65535, or unset it "
                           f"(default {default}), in your shell or in <home>/{FILE_NAME}, where `up` records it")


def number_setting(name: str, default: float, whole: bool = True) -> int | float:
    """The positive number in the environment variable ``name`` (``default`` when unset); else an error naming it."""
    text = os.environ.get(name, str(default)).strip()
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = 0
    if value > 0:
        return value
    kind = "whole number" if whole else "number"
    raise RecordedSettingsError(f"{name}={text!r} is not a {kind} above 0: fix it, or unset it (default {default}), "
                                f"in your shell or in <home>/{FILE_NAME}, where `up` records it")


def recorded(environ: Mapping[str, str]) -> dict[str, str]:
    """The platform's settings in ``environ``, sorted by name."""
    return {name: environ[name] for name in sorted(environ)
            if (name.startswith(RECORDED_PREFIXES) or name in RECORDED_NAMES) and name not in NOT_RECORDED}


def record(home: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Write the settings of a platform that starts now to ``<home>/platform.env`` (0600, replaced atomically)."""
    path = home / FILE_NAME
    lines = ["# The settings this platform was started with (`ml-platform up`); later commands use the ones their",
             "# own environment does not set. Rewritten at each start.",
             *(f"{name}={shlex.quote(value)}" for name, value in recorded(environ).items())]
    write_private(path, "\n".join(lines) + "\n")
    return path


def read(home: Path) -> dict[str, str]:
    """The settings recorded in ``<home>/platform.env``; none when the platform never started there."""
    path = home / FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        raise RecordedSettingsError(home_is_a_file(home)) from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder of that name, unreadable, not UTF-8 text
        why = "a folder, not a file" if path.is_dir() else f"cannot be read as text ({type(exc).__name__}: {exc})"
        raise RecordedSettingsError(f"{path}: {why}. The file records the settings of `ml-platform up`: delete it "
                                    "and set the settings in your shell (the next `up` writes it again).") from None
    settings = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise _unreadable(path, number, str(exc)) from None
        name, sep, value = words[0].partition("=") if len(words) == 1 else ("", "", "")
        if not sep or not name.isidentifier():
            raise _unreadable(path, number, "expected NAME=value")
        settings[name] = value
    return settings


def apply(home: Path, environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Set in ``environ`` each recorded setting it lacks; return their names (the shell's own values win)."""
    missing = {name: value for name, value in read(home).items() if name not in environ}
    environ.update(missing)
    return sorted(missing)


def _unreadable(path: Path, number: int, why: str) -> RecordedSettingsError:
    return RecordedSettingsError(f"{path}, line {number}: {why}. The file records the settings of `ml-platform up`: "
                                 "fix the line, or delete the file and set the settings in your shell (the next "
                                 "`up` writes it again).")
