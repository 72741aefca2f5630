"""Reading a settings file as a user wrote it, and saying what is wrong with it as the user would fix it.

Shared by the model configs (``ml_pipeline.config``) and the validation rules (``validation/rules.py``):

- ``read_yaml``: a key written twice is refused with both lines (YAML itself keeps the last one silently, so a
  second ``deployment:`` block would drop the first's gate), and a syntax error names its line and column.
- ``describe_errors``: pydantic's errors by field path, a misspelt setting with the closest allowed ones, the
  members of a union as one problem, an empty section said as such, and the offending value shortened.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

# libyaml's safe loader where PyYAML was built with it: every DAG file reads every config on every parse, and the
# pure-Python loader was ~3.5 ms a file (500 configs: 1.7 s of each DAG file's parse; benchmarks/scale_growth.py)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SHOWN_VALUE_CHARS = 120  # an offending value is quoted up to this long (a YAML alias bomb would be megabytes)


class _UniqueKeyLoader(SAFE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a mapping that names a key twice (a merge key's ``<<`` is no key of its own)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"'{key}' is written twice (first on line {seen}); YAML would keep only the last "
                                "one: merge the two into one", key_node.start_mark)
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The YAML document of ``path``; ``ValueError`` naming the file, the line and the fix.

    Raises:
        ValueError: The file cannot be read, is not UTF-8, is not valid YAML, or writes a key twice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte offset {exc.start}): save it as UTF-8") from exc
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    hint = ("" if "twice" in problem else
            "; fix it there (indent with spaces, put ': ' after each key, quote a value holding ': ' or ' #')")
    return f"{where}{f'{context}, ' if context else ''}{problem}{hint}"


def describe_errors(model: type[BaseModel], exc: ValidationError) -> list[str]:
    """One line per problem of ``exc`` (raised validating ``model``), each naming its field and the fix."""
    grouped: dict[str, list[dict]] = {}
    for err in exc.errors():
        path, _ = _field_path(model, err["loc"])
        grouped.setdefault(".".join(path), []).append(err)
    problems = []
    for field, errs in grouped.items():
        own = [err["msg"].removeprefix("Value error, ") for err in errs]
        named = all(err["type"] == "value_error" for err in errs) and all(m.startswith("field '") for m in own)
        if not field or named:
            problems += own  # a check across fields: its message names them
        elif errs[0]["type"] == "extra_forbidden":
            problems += [_unknown_setting(model, err) for err in errs]
        else:
            problems.append(_wrong_value(field, errs))
    return problems


def _unknown_setting(model: type[BaseModel], err: dict) -> str:
    path, section = _field_path(model, err["loc"])
    allowed = list(section.model_fields) if section else []
    close = difflib.get_close_matches(str(path[-1]), allowed, n=2, cutoff=0.6)
    guess = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    where = f"'{'.'.join(path[:-1])}'" if len(path) > 1 else "the top level"
    return (f"field '{'.'.join(path)}': no such setting{guess}; the settings of {where} are "
            f"{', '.join(allowed)}")


def _wrong_value(field: str, errs: list[dict]) -> str:
    first = errs[0]
    if first["type"] == "model_type" and first["input"] is None:
        return f"field '{field}': the section is empty: indent its settings under it, or delete the line"
    if first["type"] == "missing":
        return f"field '{field}': {first['msg']}"
    if len(errs) == 1:
        message = first["msg"].removeprefix("Value error, ")
    else:  # one per member of a union: one problem
        message = "Input should be " + " or ".join(
            dict.fromkeys(err["msg"].removeprefix("Input should be ") for err in errs))
    cron = first["type"] == "string_type" and field.endswith("schedule")
    if cron:
        message += ": write the cron in quotes, e.g. '0 2 * * *', or null"
    got = shown(first["input"])
    # our own checks quote the value they refuse; a section's check across its fields names them
    quoted = first["type"] == "value_error" and (got in message or isinstance(first["input"], dict))
    hint = _yaml_type_hint(first["type"], first["input"]) if len(errs) == 1 and not cron else ""
    return f"field '{field}': {message}" + ("" if quoted else f" (got {got})") + hint


def _yaml_type_hint(kind: str, value: Any) -> str:
    """How to write a value of the type pydantic (strict) asked for, given how YAML read what was written."""
    if kind in ("int_type", "float_type"):
        if isinstance(value, bool):
            return ": true/false is no number; write a number"
        if isinstance(value, str):
            return ": it is quoted, so YAML reads text; write the number without quotes"
        if kind == "int_type" and isinstance(value, float):
            return ": write a whole number, without a decimal point"
    if kind == "bool_type":
        return ": write true or false, without quotes"
    if kind == "string_type" and value is None:
        return ": null is not allowed here; write a value, or delete the line for the default"
    if kind == "string_type" and isinstance(value, int | float):  # bool is an int
        return ": YAML reads this as a number or true/false; put it in quotes to mean the text"
    return ""


def shown(value: Any) -> str:
    """``value``'s repr, shortened to ``SHOWN_VALUE_CHARS``."""
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else f"{text[:SHOWN_VALUE_CHARS - 1]}…"


def _field_path(model: type[BaseModel], loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """The settings path of an error's location, and the section (the model) holding its last part.

    Pydantic names the member of a union in the location (``…max_depth.float``): not a setting, dropped.
    """
    path: list[str] = []
    annotation: Any = model
    section: type[BaseModel] | None = model
    for part in loc:
        annotation = _single(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            section = annotation
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1] if typing.get_args(annotation) else None
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            continue  # the member of a union that pydantic names in the location: not a setting
        else:
            annotation = None
        path.append(str(part))
    return path, section


def _single(annotation: Any) -> Any:
    """``X`` for ``X | None`` and ``Annotated[X, ...]``; any other annotation as it is."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _single(members[0])
    return annotation
