"""The JSON Schema subset an exercise's contract may use, and a validator for it. Standard library only.

A package declares what its entry point takes and returns as JSON Schema (``[contract] input`` and
``output`` in ``exercise.toml``). Only the keywords below are understood; a package that uses any
other is refused when it loads (:func:`schema_problems`), so a schema never silently means less
than it says:

    type (one name or a list: object, array, string, integer, number, boolean, null),
    enum, const, properties, required, additionalProperties (true / false / a schema),
    items, minItems, maxItems, minLength, maxLength, minimum, maximum, anyOf,
    title, description, examples, default  (documentation only)

:func:`validate` returns every violation as a short line with a JSON path (``$.citations[2]: expected
string, got integer``), at most ``limit`` of them. It never raises on any JSON value.
"""

from __future__ import annotations

import json
from typing import Any

TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "anyOf",
        "title",
        "description",
        "examples",
        "default",
        "$schema",
    }
)


def type_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is(value: object, name: str) -> bool:
    actual = type_of(value)
    return actual == name or (name == "number" and actual == "integer")


def _short(value: object, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def schema_problems(schema: object, where: str = "$") -> list[str]:
    """What is wrong with a schema itself (unknown keywords, bad types); empty when usable."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be a table (JSON object), not {type_of(schema)}"]
    problems = [f"{where}: unsupported keyword {key!r}" for key in schema if key not in KEYWORDS]
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if kind is not None else []
    problems += [f"{where}: unknown type {name!r}" for name in names if name not in TYPES]
    for key in ("properties",):
        if key in schema:
            if not isinstance(schema[key], dict):
                problems.append(f"{where}.{key}: must be a table")
            else:
                for name, sub in schema[key].items():
                    problems += schema_problems(sub, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            problems += schema_problems(sub, f"{where}[{key}]")
        elif key in schema and not (key == "additionalProperties" and isinstance(sub, bool)):
            problems.append(f"{where}.{key}: must be a schema")
    if "anyOf" in schema:
        options = schema["anyOf"]
        if not isinstance(options, list) or not options:
            problems.append(f"{where}.anyOf: must be a non-empty list of schemas")
        else:
            for n, sub in enumerate(options):
                problems += schema_problems(sub, f"{where}.anyOf[{n}]")
    if "required" in schema and not (
        isinstance(schema["required"], list) and all(isinstance(r, str) for r in schema["required"])
    ):
        problems.append(f"{where}.required: must be a list of property names")
    if "enum" in schema and not isinstance(schema["enum"], list):
        problems.append(f"{where}.enum: must be a list")
    return problems


def validate(value: object, schema: dict[str, Any], limit: int = 10) -> list[str]:
    """Every way ``value`` breaks ``schema`` (at most ``limit``), each naming its JSON path."""
    out: list[str] = []
    _check(value, schema, "$", out, limit, 0)
    return out[:limit]


def _check(value: object, schema: dict[str, Any], path: str, out: list[str], limit: int, depth: int) -> None:
    if len(out) >= limit or depth > 64:
        return
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, name) for name in names):
            out.append(f"{path}: expected {' or '.join(names)}, got {type_of(value)}")
            return
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {_short(schema['const'])}, got {_short(value)}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_short(v, 30) for v in schema["enum"])
        out.append(f"{path}: {_short(value)} is not one of {allowed}")
    if "anyOf" in schema and all(validate(value, option, 1) for option in schema["anyOf"]):
        out.append(f"{path}: {_short(value)} matches none of the allowed shapes")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']} characters ({len(value)})")
    if type_of(value) in ("integer", "number"):
        assert isinstance(value, (int, float))
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: more than {schema['maxItems']} items ({len(value)})")
        items = schema.get("items")
        if isinstance(items, dict):
            for n, item in enumerate(value):
                _check(item, items, f"{path}[{n}]", out, limit, depth + 1)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{path}: missing {name!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            sub = f"{path}.{name}" if name.isidentifier() else f"{path}[{_short(name, 40)}]"
            if name in properties:
                _check(item, properties[name], sub, out, limit, depth + 1)
            elif extra is False:
                out.append(f"{path}: unexpected key {_short(name, 40)}")
            elif isinstance(extra, dict):
                _check(item, extra, sub, out, limit, depth + 1)
