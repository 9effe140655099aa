"""``ConfigError``, and pydantic's errors translated into ``dotted.field: message`` a user can act on.

Pydantic reports locations as tuples with union tags in them and messages written for
programmers; a config file's author needs the path as it reads in the YAML, what was
received, and a hint (``did you mean 'kpoints_distance'?``). Nothing here knows a
section: models are walked through their annotations, so a new stage's section gets the
same messages for free.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from aiida_mlip_autopipe.config.migration import moved_key_message

__all__ = ('MISSING', 'ConfigError', 'Problem', 'boolean_problems', 'problems_from')

#: ``(dotted field, value received or MISSING, message)``.
Problem = tuple[str, Any, str]


class ConfigError(ValueError):
    """A configuration that cannot run; ``problems`` lists ``(field, value, message)``."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        """One line per problem: the dotted field, what was received, what is allowed."""
        head = f'{self.source}: ' if self.source else ''
        lines = [f'{head}{len(self.problems)} problem(s) in the configuration:']
        for loc, value, message in self.problems:
            shown = '' if value is MISSING else f' (got {_short(value)})'
            lines.append(f'  - {loc or "<top>"}{shown}: {message}')
        return '\n'.join(lines)


class _Missing:
    def __repr__(self) -> str:
        return '<missing>'


#: Stands for "no value to show" in a problem (a missing key, a file that cannot be read).
MISSING = _Missing()


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModels inside ``X | None``, ``list[X]``, ``Annotated[A | B, ...]`` wrappers, in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [model for model in _models_in(arg) if model not in found]
    return found


def _discriminator(annotation: Any) -> str | None:
    """The discriminator field of a tagged union inside ``annotation`` (``kind`` for the operations)."""
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                return meta.discriminator
    for arg in typing.get_args(annotation):
        found = _discriminator(arg)
        if found is not None:
            return found
    return None


def _tagged_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """Tag value to member model of the tagged union inside ``annotation`` (``{'strain': StrainOperation}``)."""
    key = _discriminator(annotation)
    if key is None:
        return {}
    members = {}
    for model in _models_in(annotation):
        field = model.model_fields.get(key)
        if field is not None and isinstance(field.default, str):
            members[field.default] = model
    return members


def _all_tags(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every union tag that can appear in a location below ``model``."""
    seen = set() if seen is None else seen
    seen.add(model)
    tags: set[str] = set()
    for field in model.model_fields.values():
        tags |= set(_tagged_members(field.annotation))
        for inner in _models_in(field.annotation):
            if inner not in seen:
                tags |= _all_tags(inner, seen)
    return tags


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for key suggestions)."""
    current: list[type[BaseModel]] = [model]
    members: dict[str, type[BaseModel]] = {}
    for part in loc:
        if isinstance(part, int):
            continue
        owner = next((m for m in current if part in m.model_fields), None)
        if owner is None:
            # A tagged-union tag ('strain', ...) appears in the location.
            if part not in members:
                return None
            current, members = [members[part]], {}
            continue
        annotation = owner.model_fields[part].annotation
        current, members = _models_in(annotation), _tagged_members(annotation)
        if not current:
            return None
    return current[0]


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    current = data
    for part in loc:
        in_mapping = isinstance(current, Mapping) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_mapping or in_list:
            current = current[part]
        else:
            return MISSING
    return current


def _clean_loc(loc: tuple[Any, ...], tags: set[str]) -> tuple[Any, ...]:
    """Drop pydantic's union-tag entries so the path reads like the YAML."""
    cleaned = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in tags and i > 0 and isinstance(loc[i - 1], int):
            continue
        if isinstance(part, str) and part.startswith('function-'):
            continue
        cleaned.append(part)
    return tuple(cleaned)


def dotted(loc: Iterable[Any]) -> str:
    """``('generator', 'operations', 0, 'copies')`` as ``generator.operations[0].copies``."""
    out = ''
    for part in loc:
        out += f'[{part}]' if isinstance(part, int) else (f'.{part}' if out else str(part))
    return out


def problems_from(error: ValidationError, data: Any, model: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error of validating ``data`` as ``model``, with paths as in the YAML."""
    tags = _all_tags(model)
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item['loc'])
        kind = item['type']
        message = item['msg']
        if message.startswith('Value error, '):
            message = message[len('Value error, ') :]
        if message.startswith('Assertion failed, '):
            message = message[len('Assertion failed, ') :]
        clean = _clean_loc(loc, tags)
        if kind == 'extra_forbidden':
            moved = moved_key_message(clean)
            if moved is not None:
                problems.append((dotted(clean), MISSING, moved))
                continue
            owner = _model_at(model, loc[:-1])
            key = str(loc[-1])
            allowed = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ''
            message = f'unknown key {key!r}{hint} (allowed here: {", ".join(allowed)})'
            problems.append((dotted(clean), MISSING, message))
            continue
        if kind == 'missing':
            problems.append((dotted(clean), MISSING, 'required field is missing'))
            continue
        if kind == 'union_tag_invalid':
            context = item.get('ctx', {})
            allowed = sorted(re.findall(r"'([^']*)'", str(context.get('expected_tags', ''))))
            tag = str(context.get('tag', ''))
            close = difflib.get_close_matches(tag, allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ''
            # 'operations' with discriminator 'kind' reads as 'unknown operation kind ...'.
            field = next((str(p) for p in reversed(clean) if isinstance(p, str)), 'item')
            what = f'{field.removesuffix("s")} {str(context.get("discriminator", "kind")).strip(chr(39))}'
            message = f'unknown {what} {tag!r}; {hint}allowed: {", ".join(allowed)}'
        if kind == 'literal_error':
            allowed = re.findall(r"'([^']*)'", str(item.get('ctx', {}).get('expected', '')))
            close = difflib.get_close_matches(str(item.get('input')), allowed, n=1)
            if close:
                message = f"{message}; did you mean '{close[0]}'?"
        named = re.match(r'^([a-z_]+(?:\.[a-z_]+)+): (.+)$', message, re.DOTALL) if not clean else None
        if named:
            # A check across sections names its field first ('generator.operations: ...').
            clean, message = tuple(named.group(1).split('.')), named.group(2)
        # A whole-config check has no single field: its message names the fields instead.
        problems.append((dotted(clean), _value_at(data, clean) if clean else MISSING, message))
    return problems


def _takes_number_not_bool(annotation: Any) -> bool:
    """Whether a field takes ``int`` or ``float`` but not ``bool`` (pydantic would read ``yes`` as 1)."""

    def flatten(a: Any) -> set[Any]:
        args = typing.get_args(a)
        return {a} if not args else set().union(*(flatten(x) for x in args))

    kinds = flatten(annotation)
    return bool(kinds & {int, float}) and not kinds & {bool, Any}


def boolean_problems(model: type[BaseModel], data: Any, loc: tuple[Any, ...] = ()) -> list[Problem]:
    """YAML booleans (``yes``, ``true``) given where a number is expected, anywhere in ``data``."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return problems
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        where = (*loc, key)
        if isinstance(value, bool):
            if _takes_number_not_bool(field.annotation):
                problems.append((dotted(where), value, f'got the boolean {str(value).lower()}; give a number'))
            continue
        inner = _models_in(field.annotation)
        if not inner:
            continue
        members = _tagged_members(field.annotation)
        key_name = _discriminator(field.annotation)
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            member = inner[0]
            if members and isinstance(item, Mapping):
                member = members.get(item.get(key_name), inner[0])
            problems += boolean_problems(member, item, where if index is None else (*where, index))
    return problems
