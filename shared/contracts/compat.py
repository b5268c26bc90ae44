"""Whether a changed event schema still reads what was written, and is still read by what
integrators built: a schema registry's compatibility rules, applied to JSON Schema.

Our producers write only the fields an event declares (the writer's schema is closed); readers
ignore fields they do not know (the published schema is open). So, for one event version:

- BACKWARD: the new schema reads every payload written under the old one (our consumers and a
  rebuild read the whole log, old events included);
- FORWARD: the old schema, as integrators hold it, reads every payload the new code writes.

And within a version no declared field disappears (KEPT). Adding an optional field passes;
adding a required one, removing or renaming one, or narrowing or widening a type, an enum, a
length or a bound fails. Such a change is a new ``schema_version``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

_NUMERIC = {"integer", "number"}


@dataclass(frozen=True)
class Side:
    """One schema of a comparison, with the document its ``$ref``s point into."""

    schema: Schema
    document: Schema

    def resolve(self) -> Side:
        """Follow ``$ref`` (``#/$defs/...``) until a schema without one."""
        schema = self.schema
        while "$ref" in schema:
            ref: str = schema["$ref"]
            node: Any = self.document
            for part in ref.removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return Side(schema, self.document)

    def at(self, schema: Schema) -> Side:
        """Another schema of the same document."""
        return Side(schema, self.document)


def closed(schema: Schema) -> Schema:
    """The writer's form of a published schema: an object carries every field it declares
    (defaults and nulls included) and no other."""
    result = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
                node["required"] = sorted(node["properties"])
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for item in node:
                close(item)

    close(result)
    return result


def backward(old: Schema, new: Schema) -> list[str]:
    """What written under ``old`` the ``new`` schema would refuse (empty: compatible)."""
    return reads(Side(new, new), Side(closed(old), closed(old)), "")


def forward(old: Schema, new: Schema) -> list[str]:
    """What the ``new`` code writes that readers holding ``old`` would refuse."""
    return reads(Side(old, old), Side(closed(new), closed(new)), "")


def compatible(old: Schema, new: Schema) -> list[str]:
    """Both directions, and no field dropped; each problem names its rule and the field."""
    return (
        [f"BACKWARD {p}" for p in backward(old, new)]
        + [f"FORWARD {p}" for p in forward(old, new)]
        + [f"KEPT {p}" for p in kept(Side(old, old), Side(new, new), "")]
    )


def kept(old: Side, new: Side, path: str) -> list[str]:
    """Fields the old schema declares that the new one no longer does (optional ones too:
    a reader may rely on a field that is sometimes there; within a version none disappears)."""
    o, n = old.resolve().schema, new.resolve().schema
    problems = []
    for name, schema in o.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        if name not in n.get("properties", {}):
            problems.append(f"{where}: declared before, no longer")
        else:
            problems += kept(old.at(schema), new.at(n["properties"][name]), where)
    return problems


def reads(reader: Side, writer: Side, path: str) -> list[str]:
    """Why ``reader`` would refuse something ``writer`` allows (empty: it reads it all)."""
    reader, writer = reader.resolve(), writer.resolve()
    r, w = reader.schema, writer.schema
    where = path or "<payload>"
    if not r or r == {"additionalProperties": True}:
        return []  # the reader takes anything
    for union in ("anyOf", "oneOf"):
        if union in w:  # every shape the writer may write must be read
            return [p for branch in w[union] for p in reads(reader, writer.at(branch), path)]
    for union in ("anyOf", "oneOf"):
        if union in r:  # some shape of the reader's must read it
            tries = [reads(reader.at(branch), writer, path) for branch in r[union]]
            return [] if any(not t for t in tries) else min(tries, key=len)
    problems = _values(r, w, where)
    if problems:
        return problems
    kinds_r, kinds_w = _types(r), _types(w)
    if kinds_r is not None:
        if kinds_w is None:
            return [f"{where}: the reader takes only {sorted(kinds_r)}, the writer any type"]
        widened = kinds_r | ({"integer"} if "number" in kinds_r else set())
        if not kinds_w <= widened:
            return [f"{where}: type {sorted(kinds_w)} is not read as {sorted(kinds_r)}"]
    kinds = kinds_w or kinds_r or set()
    if "object" in kinds:
        problems += _object(reader, writer, path)
    if "array" in kinds:
        problems += _limits(r, w, where, ("minItems", "maxItems"))
        if "items" in r:
            problems += reads(reader.at(r["items"]), writer.at(w.get("items", {})), f"{path}[]")
    if "string" in kinds:
        problems += _limits(r, w, where, ("minLength", "maxLength"))
        problems += [
            f"{where}: {key} {r[key]!r} is not the writer's {w.get(key)!r}"
            for key in ("pattern", "format")
            if key in r and r[key] != w.get(key)
        ]
    if kinds & _NUMERIC:
        problems += _limits(r, w, where, ("minimum", "maximum"))
        problems += _limits(r, w, where, ("exclusiveMinimum", "exclusiveMaximum"))
        if "multipleOf" in r and r["multipleOf"] != w.get("multipleOf"):
            problems.append(f"{where}: multipleOf {r['multipleOf']} is not the writer's")
    return problems


def _types(schema: Schema) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            return {_json_type(v) for v in values}
        return None
    return set(kind) if isinstance(kind, list) else {kind}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _values(r: Schema, w: Schema, where: str) -> list[str]:
    """A reader that takes only some values takes every value the writer may write."""
    allowed = [r["const"]] if "const" in r else r.get("enum")
    if allowed is None:
        return []
    written = [w["const"]] if "const" in w else w.get("enum")
    if written is None:
        return [f"{where}: the reader takes only {allowed!r}, the writer any value"]
    extra = [v for v in written if v not in allowed]
    return [f"{where}: {extra!r} written, not read"] if extra else []


def _object(reader: Side, writer: Side, path: str) -> list[str]:
    r, w = reader.schema, writer.schema
    problems: list[str] = []

    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    r_props: dict[str, Schema] = r.get("properties", {})
    w_props: dict[str, Schema] = w.get("properties", {})
    w_required = set(w.get("required", []))
    for name in sorted(set(r.get("required", [])) - w_required):
        problems.append(f"{at(name)}: required by the reader, not always written")
    reader_closed = r.get("additionalProperties") is False
    writer_closed = w.get("additionalProperties") is False
    for name, schema in w_props.items():
        if name in r_props:
            problems += reads(reader.at(r_props[name]), writer.at(schema), at(name))
        elif reader_closed:
            problems.append(f"{at(name)}: written, but the reader takes no such field")
    if not writer_closed:
        for name in sorted(set(r_props) - set(w_props)):
            if r_props[name]:
                problems.append(f"{at(name)}: the writer may write it in any shape")
    return problems


def _limits(r: Schema, w: Schema, where: str, keys: tuple[str, str]) -> list[str]:
    """Bounds: the reader's minimum no higher than the writer's, its maximum no lower."""
    low, high = keys
    problems = []
    if low in r and (low not in w or w[low] < r[low]):
        problems.append(f"{where}: {low} {r[low]} is above the writer's {w.get(low)}")
    if high in r and (high not in w or w[high] > r[high]):
        problems.append(f"{where}: {high} {r[high]} is below the writer's {w.get(high)}")
    return problems
