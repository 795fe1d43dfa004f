"""compliance.toml schemas: every section refuses unknown keys and wrong types, naming the
key path and the closest valid key; the schemas are valid and documented."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance.config import load_config, validate_settings
from genai_compliance.errors import ConfigurationError
from genai_compliance.incidents import WorkingCalendar
from genai_compliance.minors import MinorPolicy
from genai_compliance.schemas import _registry, load_schema, tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "compliance.toml"
DOCS = ROOT / "docs"
PROVIDER = ('[provider]\nlegal_name = "示例科技有限公司"\nuscc = "91440300708461136T"\n'
            'product_name = "示例助手"\n')

#: (TOML after [provider], dotted key, closest valid key): one misspelling per table
MISSPELT = [
    pytest.param('moderaton = {}\n', "moderaton", "moderation", id="top-level"),
    pytest.param(PROVIDER + 'legal_nam = "x"\n', "provider.legal_nam", "legal_name",
                 id="provider"),
    pytest.param('[deployment]\nreplica = 2\n', "deployment.replica", "replicas",
                 id="deployment"),
    pytest.param('[ledger]\ncheckpoint_evry = 10\n', "ledger.checkpoint_evry",
                 "checkpoint_every", id="ledger"),
    pytest.param('[stores]\nminor = "memory://"\n', "stores.minor", "minors", id="stores"),
    pytest.param('[interaction]\nidle_gap_minute = 5\n', "interaction.idle_gap_minute",
                 "idle_gap_minutes", id="interaction"),
    pytest.param('[consent]\nmax_stalenes = 1\n', "consent.max_stalenes", "max_staleness",
                 id="consent"),
    pytest.param('[[consent.purposes]]\nname = "training"\nseperate = true\n',
                 "consent.purposes[0].seperate", "separate", id="consent.purposes"),
    pytest.param('[agreement]\nverison = "2"\n', "agreement.verison", "version",
                 id="agreement"),
    pytest.param('[labelling]\nmethod = ["x"]\n', "labelling.method", "methods",
                 id="labelling"),
    pytest.param('[labelling.explicit]\ntxt = "AI生成"\n', "labelling.explicit.txt", "text",
                 id="labelling.explicit"),
    pytest.param('[labelling.implicit]\nenable = false\n', "labelling.implicit.enable",
                 "enabled", id="labelling.implicit"),
    pytest.param('[c2pa]\ncerts = "c.pem"\n', "c2pa.certs", "cert", id="c2pa"),
    pytest.param('[minors]\ndaily_minute = {}\n', "minors.daily_minute", "daily_minutes",
                 id="minors"),
    pytest.param('[minors.daily_minutes]\n"12-61" = 30\n', "minors.daily_minutes.12-61",
                 "12-16", id="minors.daily_minutes"),
    pytest.param('[moderation]\nkeyword_file = ["kw.csv"]\n', "moderation.keyword_file",
                 "keyword_files", id="moderation"),
    pytest.param('[moderation.profiles.minors]\nkeywords = ["kw.csv"]\n',
                 "moderation.profiles.minors.keywords", "keyword_files",
                 id="moderation.profiles"),
    pytest.param('[incidents]\ncontent_retention_day = 5\n',
                 "incidents.content_retention_day", "content_retention_days", id="incidents"),
    pytest.param('[incidents.escalation]\nwarn_afer = 1\n', "incidents.escalation.warn_afer",
                 "warn_after", id="incidents.escalation"),
    pytest.param('[complaints]\nchanel = "x"\n', "complaints.chanel", "channel",
                 id="complaints"),
    pytest.param('[complaints.calendar.2027]\nholiday = []\n',
                 "complaints.calendar.2027.holiday", "holidays", id="complaints.calendar"),
    pytest.param('[filing]\nservice_nam = "x"\n', "filing.service_nam", "service_name",
                 id="filing"),
    pytest.param('[training]\nregister = "x"\n', "training.register", None, id="training"),
    pytest.param('[evaluation]\nbanks = []\n', "evaluation.banks", None, id="evaluation"),
]


def _toml(tmp_path: Path, body: str) -> Path:
    """A compliance.toml: ``body``, then a valid [provider] unless ``body`` has one."""
    cfg = tmp_path / "compliance.toml"
    cfg.write_text(body if "[provider]" in body else body + "\n" + PROVIDER,
                   encoding="utf-8")
    return cfg


def _refused(tmp_path: Path, body: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        load_config(_toml(tmp_path, body))
    return info.value


@pytest.mark.parametrize(("body", "field", "suggestion"), MISSPELT)
def test_every_table_refuses_an_unknown_key(tmp_path: Path, body: str, field: str,
                                            suggestion: str | None) -> None:
    """A misspelt key in any table is an error naming its dotted path and the closest
    valid key of that table (or saying the table takes no keys)."""
    err = _refused(tmp_path, body)
    key = field.rsplit(".", 1)[-1].split("]")[-1]
    assert err.field == field
    assert f"unknown key {key!r}" in str(err)
    assert field in str(err) or "." not in field
    if suggestion is None:
        assert "takes no keys" in str(err)
    else:
        assert f"did you mean {suggestion!r}?" in str(err)
        assert err.suggestion == suggestion
        assert "Valid keys:" in str(err)


def test_message_reads_as_documented(tmp_path: Path) -> None:
    """The issue's example: the section, the unknown key, the suggestion and the valid keys."""
    err = _refused(tmp_path, '[moderation]\nkeyword_file = ["kw.csv"]\n')
    assert ("moderation: unknown key 'keyword_file' (moderation.keyword_file); did you mean "
            "'keyword_files'? Valid keys: ") in str(err)
    assert "enabled, keyword_files, " in str(err)
    assert str(_toml(tmp_path, "")) in str(err)  # which file


@pytest.mark.parametrize(("body", "field", "expected"), [
    ('[moderation]\nkeyword_files = "kw.csv"\n', "moderation.keyword_files",
     'expected an array, found "kw.csv" (string)'),
    ('[moderation]\nenabled = "no"\n', "moderation.enabled",
     'expected true or false, found "no" (string)'),
    ('[moderation.thresholds]\ndefault = 1.5\n', "moderation.thresholds.default",
     "must be at most 1, found 1.5"),
    ('[moderation.actions]\n"A.2" = "reveiw"\n', 'moderation.actions."A.2"',
     '"reveiw" is not one of "block", "review"; did you mean "review"?'),
    ('[moderation.actions]\n"A.9" = "review"\n', 'moderation.actions."A.9"',
     "keys of this table are risk codes"),
    ('[moderation]\nword_boundaries = "yes"\n', "moderation.word_boundaries",
     "expected true or false"),
    ('[deployment]\nreplicas = 0\n', "deployment.replicas", "must be at least 1, found 0"),
    ('[deployment]\nreplicas = 1.5\n', "deployment.replicas",
     "expected an integer, found 1.5 (float)"),
    ('[deployment]\nmode = "prod"\n', "deployment.mode",
     '"prod" is not one of "production", "development"; did you mean "production"?'),
    ('[consent]\nmax_staleness = true\n', "consent.max_staleness",
     "expected a number, found true (boolean)"),
    ('[minors]\nhistory_days = "31"\n', "minors.history_days",
     'expected an integer, found "31" (string)'),
    ('[minors]\ncurfew = true\n', "minors.curfew", "expected false or an array"),
    ('[incidents.escalation]\ncount_output_blocks = 1\n',
     "incidents.escalation.count_output_blocks", "expected true or false, found 1 (integer)"),
    ('[incidents.escalation]\nlimited_modalities = ["imag"]\n',
     "incidents.escalation.limited_modalities[0]", 'did you mean "image"?'),
    ('[labelling]\nexplicit = 3\n', "labelling.explicit",
     "expected true or false or a table, found 3 (integer)"),
    ('[labelling.explicit]\nmode = "prefx"\n', "labelling.explicit.mode",
     'did you mean "prefix"?'),
    ('[stores]\nminors = "mysql://db"\n', "stores.minors", "does not have the expected form"),
    ('[complaints]\nholidays = ["2027/01/04"]\n', "complaints.holidays[0]",
     "does not have the expected form"),
    ('[complaints.calendar.next]\nholidays = []\n', "complaints.calendar.next",
     "keys of this table are four-digit years"),
    ('[[consent.purposes]]\nname = "newsletter"\nzh = "资讯推送"\n', "consent.purposes[0].en",
     "missing required key 'en'"),
    ('[agreement]\nillegal_use_measures = []\n', "agreement.illegal_use_measures",
     "needs at least 1 item, found 0"),
    ('timezone = 8\n', "timezone", "expected a string, found 8 (integer)"),
])
def test_wrong_types_and_values_are_refused(tmp_path: Path, body: str, field: str,
                                            expected: str) -> None:
    """A wrong type or value names the key path, what was expected and what was found."""
    err = _refused(tmp_path, body)
    assert err.field == field
    location = str(err).split(": ")[1]  # after the file name: the table or key
    assert field.startswith(location)
    assert expected in str(err)


def test_every_problem_is_counted(tmp_path: Path) -> None:
    """Several mistakes: the first is explained and the others are listed too."""
    err = _refused(tmp_path, '[deployment]\nreplicas = 0\nmode = "prod"\n')
    assert "and 1 more problem" in str(err)
    assert {p.field for p in err.problems} == {"deployment.replicas", "deployment.mode"}


def test_example_config_validates() -> None:
    """examples/compliance.toml loads: every key in it is a known key of the right type."""
    data, _base = load_config(EXAMPLE)
    assert data["provider"]["uscc"]
    validate_settings({k: v for k, v in data.items() if k != "provider"})


def test_toml_dates_and_times_are_accepted(tmp_path: Path) -> None:
    """TOML dates and times may stand wherever a date or time string may, both in the
    loader and in the duty that reads them (calendar, curfew)."""
    data, _base = load_config(_toml(tmp_path, "[complaints]\nholidays = [2027-01-04]\n"
                                              "[complaints.calendar.2028]\n"
                                              "holidays = [2028-01-01]\nworkdays = []\n"
                                              "[minors]\ncurfew = [21:30:00, 07:00:00]\n"))
    assert WorkingCalendar.from_settings(data["complaints"]).is_working_day(
        dt.date(2027, 1, 4)) is False
    assert MinorPolicy.from_settings(data["minors"]).curfew == (dt.time(21, 30), dt.time(7))


def test_deployment_and_moderation_switch_are_accepted(tmp_path: Path) -> None:
    """[deployment] replicas / mode and [moderation] enabled validate."""
    data, _base = load_config(_toml(tmp_path, '[deployment]\nreplicas = 3\nmode = '
                                              '"development"\n[moderation]\nenabled = false\n'))
    assert data["deployment"] == {"replicas": 3, "mode": "development"}


def test_validate_settings_checks_a_mapping_without_provider() -> None:
    """validate_settings checks the sections given, needs no provider, ignores _base_dir."""
    validate_settings({"_base_dir": "/srv", "minors": {"key_prefix": "test:x"},
                       "incidents": {"escalation": {"count_output_blocks": False}},
                       "moderation": {"keyword_files": ["kw.csv"], "refusal_text": "不能回答",
                                      "profiles": {"minors": {"keyword_files": ["m.csv"]}}}})
    validate_settings({})
    with pytest.raises(ConfigurationError) as info:
        validate_settings({"incidents": {"retention": 3}})
    assert info.value.field == "incidents.retention" and info.value.value == 3
    assert str(info.value).startswith("settings: incidents: unknown key 'retention'")
    with pytest.raises(ConfigurationError, match="did you mean 'moderation'"):
        validate_settings({"moderaton": {}})
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        validate_settings(["moderation"])  # type: ignore[arg-type]


def _toml_blocks() -> Iterator[Any]:
    for page in sorted(DOCS.glob("*.md")):
        for n, block in enumerate(re.findall(r"```toml\n(.*?)```", page.read_text("utf-8"),
                                             re.S)):
            if "…" not in block:  # illustrative fragments elide values
                yield pytest.param(block, id=f"{page.name}-{n}")


@pytest.mark.parametrize("block", list(_toml_blocks()))
def test_documented_toml_snippets_validate(block: str) -> None:
    """Every complete TOML example in docs/ is valid configuration."""
    validate_settings(tomllib.loads(block))


def _closed_tables() -> list[tuple[tuple[str, ...], frozenset[str]]]:
    out = []
    for table in tables("config"):
        if table.closed:
            wildcard = {"complaints": "2027", "interaction": "cn-anthropomorphic"}.get(
                table.path[0] if table.path else "", "minors")  # a valid name of the table
            path = tuple(wildcard if p == "*" else p for p in table.path)
            out.append((path, frozenset(table.properties)))
    return out


CLOSED = _closed_tables()


def _nest(path: tuple[str, ...], leaf: dict[str, Any]) -> dict[str, Any]:
    """``("a", "[]", "b")`` + leaf -> ``{"a": [{"b": leaf}]}`` (array items get a name)."""
    node: Any = leaf
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "[]":
            continue
        if i + 1 < len(path) and path[i + 1] == "[]":
            node = [{"name": "training", **node}]
        node = {path[i]: node}
    return dict(node)


@given(table=st.sampled_from(CLOSED),
       key=st.from_regex(r"\A[A-Za-z0-9_-]{1,16}\Z"),
       value=st.one_of(st.booleans(), st.integers(), st.text(max_size=5)))
def test_any_unknown_key_is_refused_and_named(table: tuple[tuple[str, ...], frozenset[str]],
                                              key: str, value: object) -> None:
    """Property: any key a table does not define, with any value, is refused and named."""
    path, known = table
    if key in known or key == "_base_dir":  # _base_dir: the loader's own, always ignored
        return
    leaf: dict[str, Any] = {key: value}
    if path == ("provider",):
        leaf.update(tomllib.loads(PROVIDER)["provider"])
    with pytest.raises(ConfigurationError) as info:
        validate_settings(_nest(path, leaf) if path else leaf)
    assert f"unknown key {key!r}" in str(info.value)
    assert info.value.field.endswith(key)
    assert info.value.key == key


def test_every_section_is_closed() -> None:
    """No table of the config schema accepts keys it does not list."""
    assert all(t.closed for t in tables("config"))
    sections = {t.path[0] for t in tables("config") if len(t.path) == 1}
    assert sections >= {"consent", "agreement", "minors", "moderation", "incidents",
                        "complaints", "training", "evaluation", "filing", "labelling", "c2pa",
                        "stores", "deployment", "provider", "ledger"}


def _schema_files() -> list[str]:
    return sorted(e.name for e in resources.files("genai_compliance.schemas").iterdir()
                  if e.name.endswith(".schema.json"))


@pytest.mark.parametrize("name", _schema_files())
def test_schema_file_is_valid_draft_2020_12(name: str) -> None:
    """Every shipped schema is valid against the Draft 2020-12 meta-schema."""
    schema = json.loads(resources.files("genai_compliance.schemas").joinpath(name)
                        .read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    if name.endswith("-config.schema.json") and "$id" in schema:
        assert schema["$id"] == f"https://genai-compliance.invalid/schemas/{name}"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize("name", _schema_files())
def test_every_ref_resolves_offline(name: str) -> None:
    """Every $ref of every shipped schema resolves to a shipped schema, without network."""
    schema = load_schema(name.removesuffix(".schema.json"))
    resolver = _registry().resolver(base_uri=schema.get("$id", name))
    for ref in _refs(schema):
        assert isinstance(resolver.lookup(ref).contents, dict), ref


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("_gen_config_reference",
                                                  DOCS / "_gen_config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_lists_every_key() -> None:
    """docs/configuration.md names every key of every table, and is what the generator
    writes from the schemas today (run docs/_gen_config_reference.py after a change)."""
    page = (DOCS / "configuration.md").read_text("utf-8")
    gen = _generator()
    for table in tables("config"):
        for key in table.properties:
            assert f"`{gen._key(table, key)}`" in page, f"{table.name}.{key} is not documented"
    assert page == gen.render(), "docs/configuration.md is out of date with the schemas; " \
        "run python docs/_gen_config_reference.py"


def test_builtin_purposes_in_schema_match_the_consent_service() -> None:
    """The schema lets a [[consent.purposes]] entry omit zh/en exactly for the built-in
    purposes of the consent service."""
    from genai_compliance.consent import DEFAULT_PURPOSES

    items = load_schema("consent-config")["properties"]["purposes"]["items"]
    assert set(items["if"]["properties"]["name"]["enum"]) == {p.name for p in DEFAULT_PURPOSES}
    validate_settings({"consent": {"purposes": [{"name": "cross-border", "required": True}]}})
