"""JSON Schemas of every document the SDK reads or writes, and a validator helper.

:func:`validate` raises :class:`~genai_compliance.errors.ConfigurationError` naming the dotted
key path (``moderation.keyword_files``, ``consent.purposes[0].name``), what was expected and
what was found; an unknown key comes with the closest valid key of its table. Date, time and
datetime values (TOML has them) are checked as their ISO strings.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import attrs

from .._exports import publish as _publish
from ..errors import ConfigurationError

__all__ = ["Problem", "Table", "dotted_path", "load_schema", "problems", "tables", "validate"]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``NAME.schema.json`` shipped in this package."""
    path = resources.files(__name__).joinpath(f"{name}.schema.json")
    if not path.is_file():
        raise ConfigurationError(f"no schema named {name!r} ships with genai_compliance",
                                 field="schema", value=name)
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


@functools.cache
def _registry() -> Any:
    """Every shipped schema by its ``$id`` (and file name), so ``$ref``s between them
    resolve without any network access."""
    from referencing import Registry, Resource

    resources_: list[tuple[str, Any]] = []
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".schema.json"):
            schema = json.loads(entry.read_text("utf-8"))
            resource = Resource.from_contents(schema)
            resources_.append((schema.get("$id") or entry.name, resource))
    return Registry().with_resources(resources_)


@attrs.frozen
class Problem:
    """One way a document fails its schema: where (``path``, ``field`` its dotted form),
    what is wrong (``message``, which starts with the location) and the evidence."""

    path: tuple[str | int, ...]
    field: str
    message: str
    evidence: Mapping[str, Any] = attrs.field(factory=dict)


_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "array": "an array", "object": "a table",
               "null": "null"}


def dotted_path(path: Iterable[str | int]) -> str:
    """``("consent", "purposes", 0, "name")`` -> ``"consent.purposes[0].name"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _KEY.match(part) else json.dumps(part, ensure_ascii=False)
            out += f".{key}" if out else key
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list | tuple):
        return "array"
    if value is None:
        return "null"
    return type(value).__name__


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _found(value: Any) -> str:
    return f"found {_show(value)} ({_kind(value)})"


def _names(types: str | Sequence[str]) -> str:
    items = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in items)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    options = sorted(choices)
    folded = {c.lower(): c for c in options}
    if word.lower() in folded:
        return folded[word.lower()]
    starts = [c for c in options if len(word) >= 3 and c.lower().startswith(word.lower())]
    if len(starts) == 1:
        return starts[0]
    best = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return best[0] if best else None


def _where(path: tuple[str | int, ...]) -> str:
    return dotted_path(path) or "(top level)"


def _unknown_keys(err: Any, path: tuple[str | int, ...]) -> list[Problem]:
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    known = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    extras = sorted(str(k) for k in err.instance
                    if k not in known and not any(p.search(str(k)) for p in patterns))
    table = _where(path)
    out = []
    for key in extras:
        full = (*path, key)
        named = f"unknown key {key!r}" + (f" ({dotted_path(full)})" if path else "")
        if not known:
            text = f"{table}: {named}; this table takes no keys yet (nothing reads them), " \
                   "remove it"
        else:
            best = _closest(key, known)
            hint = f"did you mean {best!r}?" if best else "no valid key is close;"
            text = f"{table}: {named}; {hint} Valid keys: {', '.join(sorted(known))}"
        out.append(Problem(full, dotted_path(full), text,
                           {"key": key, "value": err.instance[key],
                            "suggestion": _closest(key, known) if known else None,
                            "valid_keys": tuple(sorted(known))}))
    return out


def _branch_choice(err: Any) -> Any | None:
    """The failing ``oneOf``/``anyOf`` branch whose shape fits the value (its errors are
    not a type/const/enum mismatch at the branch's root), or None when none fits."""
    branches: dict[Any, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [subs for subs in branches.values()
               if not any(not sub.relative_path and sub.validator in ("type", "const", "enum")
                          for sub in subs)]
    if not fitting:
        return None
    subs = min(fitting, key=len)
    return min(subs, key=lambda s: [str(p) for p in s.absolute_path])


def _alternatives(err: Any) -> str:
    seen: list[str] = []
    for sub in err.context:
        if sub.relative_path:
            continue
        if sub.validator == "type":
            text = _names(sub.validator_value)
        elif sub.validator == "const":
            text = _show(sub.validator_value)
        elif sub.validator == "enum":
            text = "one of " + ", ".join(_show(v) for v in sub.validator_value)
        else:
            continue
        if text not in seen:
            seen.append(text)
    return " or ".join(seen) or "a value matching one of the allowed forms"


def _explain(err: Any) -> list[Problem]:
    path: tuple[str | int, ...] = tuple(err.absolute_path)
    where, value, kind = _where(path), err.instance, err.validator
    bound = err.validator_value
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    evidence: dict[str, Any] = {} if isinstance(value, Mapping | list) else {"value": value}

    def one(text: str) -> list[Problem]:
        return [Problem(path, dotted_path(path), f"{where}: {text}", evidence)]

    if "propertyNames" in err.relative_schema_path:
        full = (*path, str(value))
        what = schema.get("description") or f"names matching {schema.get('pattern', '?')}"
        return [Problem(full, dotted_path(full),
                        f"{where}: key {str(value)!r} is not allowed here; keys of this table "
                        f"are {what}", {"key": value})]
    if kind == "additionalProperties" and bound is False:
        return _unknown_keys(err, path)
    if kind == "required":
        out = []
        for key in bound:
            if key in value:
                continue
            full = (*path, key)
            desc = schema.get("properties", {}).get(key, {}).get("description")
            out.append(Problem(full, dotted_path(full),
                               f"{where}: missing required key {key!r} ({dotted_path(full)})"
                               + (f": {desc}" if desc else ""), {"key": key}))
        return out
    if kind in ("oneOf", "anyOf"):
        chosen = _branch_choice(err)
        if chosen is not None:
            return _explain(chosen)
        return one(f"expected {_alternatives(err)}, {_found(value)}")
    if kind == "type":
        return one(f"expected {_names(bound)}, {_found(value)}")
    if kind == "enum":
        options = ", ".join(_show(v) for v in bound)
        best = _closest(value, [v for v in bound if isinstance(v, str)]) \
            if isinstance(value, str) else None
        return one(f"{_show(value)} is not one of {options}"
                   + (f"; did you mean {_show(best)}?" if best else ""))
    if kind == "const":
        return one(f"must be {_show(bound)}, {_found(value)}")
    limits = {"minimum": "at least", "exclusiveMinimum": "greater than",
              "maximum": "at most", "exclusiveMaximum": "less than"}
    if kind in limits:
        return one(f"must be {limits[kind]} {bound}, found {_show(value)}")
    if kind in ("minLength", "maxLength"):
        if kind == "minLength" and bound == 1:
            return one("must not be empty")
        word = "at least" if kind == "minLength" else "at most"
        return one(f"needs {word} {bound} characters, found {len(value)} ({_show(value)})")
    if kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        return one(f"needs {word} {bound} item{'' if bound == 1 else 's'}, found "
                   f"{len(value)}")
    if kind == "uniqueItems":
        return one(f"lists an item more than once: {_show(value)}")
    if kind == "pattern":
        desc = schema.get("description")
        return one(f"{_show(value)} does not have the expected form"
                   + (f" ({desc})" if desc else "") + f"; it must match {bound}")
    return one(str(err.message))


@attrs.frozen
class Table:
    """One table of a document schema with fixed keys, ``$ref``s resolved.

    ``path`` is its place (``("incidents", "escalation")``; ``"*"`` stands for any name, as
    in ``("moderation", "profiles", "*")``, and ``"[]"`` for the items of an array of
    tables); ``properties`` maps each key to its resolved schema; ``required`` names the keys
    that must be given; ``closed`` says whether unknown keys are refused.
    """

    path: tuple[str, ...]
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...]
    closed: bool

    @property
    def name(self) -> str:
        """The dotted name (``moderation.profiles.*``; ``""`` for the top level)."""
        return ".".join(self.path).replace(".[]", "[]")


def _deref(node: Mapping[str, Any], resolver: Any) -> tuple[dict[str, Any], Any]:
    """``node`` with its ``$ref`` resolved (the node's own keywords win), and the resolver
    for references inside it."""
    out = dict(node)
    while "$ref" in out:
        resolved = resolver.lookup(out.pop("$ref"))
        resolver = resolved.resolver
        out = {**resolved.contents, **out}
    return out, resolver


def _deref_all(node: Mapping[str, Any], resolver: Any) -> dict[str, Any]:
    """``node`` with every ``$ref`` inside it resolved (for describing a key's value)."""
    out, resolver = _deref(node, resolver)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), Mapping):
            out[key] = _deref_all(out[key], resolver)
    for key in ("oneOf", "anyOf"):
        if key in out:
            out[key] = [_deref_all(branch, resolver) for branch in out[key]]
    return out


def tables(name: str = "config") -> list[Table]:
    """Every table with fixed keys in schema ``name``, top level first, in schema order
    (the source of docs/configuration.md)."""
    schema = load_schema(name)
    root = _registry().resolver(base_uri=schema.get("$id", f"{name}.schema.json"))
    out: list[Table] = []

    def walk(node: Mapping[str, Any], resolver: Any, path: tuple[str, ...]) -> None:
        node, resolver = _deref(node, resolver)
        for branch in node.get("oneOf", []) + node.get("anyOf", []):
            sub, sub_resolver = _deref(branch, resolver)
            if sub.get("type") == "object":
                walk({**sub, "description": node.get("description", "")}, sub_resolver, path)
        if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
            items, item_resolver = _deref(node["items"], resolver)
            if items.get("type") == "object":
                walk(items, item_resolver, (*path, "[]"))
        if node.get("type") != "object":
            return
        props = {k: _deref(v, resolver) for k, v in node.get("properties", {}).items()}
        extra = node.get("additionalProperties", True)
        if props or extra is False:
            out.append(Table(path, str(node.get("description") or node.get("title") or ""),
                             {k: _deref_all(v, r) for k, (v, r) in props.items()},
                             tuple(node.get("required", ())), extra is False))
        for key, (sub, sub_resolver) in props.items():
            walk(sub, sub_resolver, (*path, key))
        if isinstance(extra, Mapping):
            walk(extra, resolver, (*path, "*"))

    walk(schema, root, ())
    return out


def _as_json(value: Any) -> Any:
    """``value`` with dates and times as ISO strings (what the schemas describe)."""
    if isinstance(value, Mapping):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def problems(document: Any, name: str, *, require: bool = True) -> list[Problem]:
    """Every way ``document`` fails schema ``name``, in document order. ``require=False``
    ignores missing top-level required keys (to check a partial document)."""
    import jsonschema

    document = _as_json(document)
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, registry=_registry())
    out: list[Problem] = []
    for err in validator.iter_errors(document):
        if not require and err.validator == "required" and not err.absolute_path:
            continue
        out.extend(p for p in _explain(err) if p not in out)
    return sorted(out, key=lambda p: [str(x) for x in p.path])


def validate(document: Any, name: str, *, what: str | None = None,
             require: bool = True) -> None:
    """Validate ``document`` against schema ``name``; raise ConfigurationError on the first
    problem, naming the dotted key path (``field``), what was expected and what was found
    (for an unknown key: the closest valid key of its table). ``require=False`` ignores
    missing top-level required keys."""
    found = problems(document, name, require=require)
    if not found:
        return
    first, rest = found[0], found[1:]
    pointer = "/".join(str(p) for p in first.path)
    message = f"{what or name}: {first.message}" + (f" (at /{pointer})" if pointer else "")
    if rest:
        shown = "; ".join(p.message for p in rest[:3])
        message += (f" — and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: {shown}"
                    + ("; …" if len(rest) > 3 else ""))
    evidence = {"field": first.field or "(top level)", **dict(first.evidence)}
    evidence.setdefault("value", None)
    raise ConfigurationError(message, problems=tuple(found), **evidence)

_publish(__name__, globals(), __all__)
