"""JSON Schemas of every document the SDK reads or writes, and a validator helper."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from ..errors import ConfigurationError

__all__ = ["load_schema", "validate"]


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


def validate(document: Any, name: str, *, what: str | None = None) -> None:
    """Validate ``document`` against schema ``name``; raise ConfigurationError on the first
    problem, naming the field path, what was expected and what was found."""
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, registry=_registry())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigurationError(
            f"{what or name}: {where}: {err.message}"
            + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""),
            field=where,
            value=err.instance if not isinstance(err.instance, dict) else None,
        )
