"""Provider settings: :class:`Provider` and the ``compliance.toml`` loader.

The TOML file is validated against ``schemas/config.schema.json`` (one ``$ref``'d schema per
section, each refusing unknown keys) before anything is built; relative paths (and
``sqlite:///relative.db`` URIs) resolve against the file's folder. :func:`validate_settings`
checks the same sections when they are given as a mapping. docs/configuration.md lists every
key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigurationError
from .schemas import validate

__all__ = ["Provider", "load_config", "uscc_check_char", "validate_settings", "validate_uscc"]

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """The check character of a unified social credit code (GB 32100-2015)."""
    total = 0
    for ch, weight in zip(first17, _USCC_WEIGHTS, strict=True):
        idx = _USCC_CHARS.find(ch)
        if idx < 0:
            raise ConfigurationError(
                f"{ch!r} cannot appear in a unified social credit code (allowed: "
                f"{_USCC_CHARS})", field="uscc", value=first17)
        total += idx * weight
    return _USCC_CHARS[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return ``code`` if it is a well-formed USCC with a correct check character."""
    if not isinstance(code, str) or len(code) != 18:
        raise ConfigurationError(
            f"a unified social credit code has 18 characters, got {code!r}", field="uscc",
            value=code)
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise ConfigurationError(
            f"unified social credit code {code!r} fails its check character: expected "
            f"{expected!r} at the end, found {code[17]!r}; copy the code from the business "
            "licence", field="uscc", value=code)
    return code


def _uscc(_inst: Any, _attr: Any, value: str) -> None:
    validate_uscc(value)


@attrs.frozen
class Provider:
    """Who provides the service: the facts labels, agreements and reports need."""

    legal_name: str = attrs.field(validator=attrs.validators.min_len(1))
    uscc: str = attrs.field(validator=_uscc)
    product_name: str = attrs.field(validator=attrs.validators.min_len(1))
    legal_name_en: str | None = None
    product_name_en: str | None = None
    product_version: str = "1.0"
    service_filing_number: str | None = None
    model_code: str = "0000"
    website: str | None = None
    address: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None

    @property
    def producer_code(self) -> str:
        """The 27-character TC260-PG-20252A code of this provider as a generation service."""
        return f"0011{self.uscc}1{self.model_code}"

    @property
    def propagator_code(self) -> str:
        """The same code with service type 2 (propagation)."""
        return f"0011{self.uscc}2{self.model_code}"


def _resolve_uri(uri: str, base: Path) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///"):]
        if rel and rel != ":memory:":
            return "sqlite:///" + str((base / rel).resolve())
    return uri


def load_config(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """Read, validate and path-resolve ``compliance.toml``; returns ``(data, folder)``."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the config file {str(file)!r}: {exc.strerror}; pass the path of "
            "your compliance.toml (examples/compliance.toml is a complete example)",
            field="path", path=str(file)) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{str(file)!r} is not valid TOML: {exc}", field="path",
                                 path=str(file)) from exc
    validate(data, "config", what=str(file))
    return resolve_paths(data, file.parent.resolve()), file.parent.resolve()


def validate_settings(data: Mapping[str, Any], *, what: str = "settings") -> None:
    """Validate the sections of ``compliance.toml`` given as a mapping (as passed to
    ``Compliance(settings=...)``) against the same schemas as :func:`load_config`: unknown
    sections and keys, wrong types and values raise :class:`ConfigurationError` naming the
    dotted key path and, for an unknown key, the closest valid one. Only the sections
    present are checked (no ``provider`` needed); the internal ``_base_dir`` key is
    ignored."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"settings must be a mapping of compliance.toml sections, got "
            f"{type(data).__name__}", field="settings", value=data)
    sections = {k: v for k, v in data.items() if k != "_base_dir"}
    validate(sections, "config", what=what, require=False)


def resolve_paths(data: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Make relative store URIs and key paths absolute against ``base``."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    ledger = out.get("ledger", {})
    if "uri" in ledger:
        ledger["uri"] = _resolve_uri(ledger["uri"], base)
    if "signing_key" in ledger:
        ledger["signing_key"] = str((base / ledger["signing_key"]).resolve())
    if "stores" in out:
        out["stores"] = {k: _resolve_uri(v, base) for k, v in out["stores"].items()}
    return out
