"""The public surface: exports, error tree, config loading, subjects, stores, rules."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import genai_compliance
from genai_compliance import (
    AgeBand,
    Compliance,
    ComplianceError,
    ConfigurationError,
    ConsentRequired,
    FrozenClock,
    Guardian,
    Provider,
    StoreUnavailable,
    Subject,
)
from genai_compliance.config import uscc_check_char, validate_uscc
from genai_compliance.rules import load_rules
from genai_compliance.stores import open_store, require_capabilities


def test_exports_sorted_and_complete() -> None:
    """__all__ is sorted, every name exists and public classes show the package name."""
    names = genai_compliance.__all__

    def isort_style(name: str) -> tuple[int, str]:  # constants, classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style) and len(set(names)) == len(names)
    for name in names:
        assert hasattr(genai_compliance, name)
    assert ConsentRequired.__module__ == "genai_compliance"
    assert Compliance.__module__ == "genai_compliance"


def test_errors_pickle_and_carry_evidence() -> None:
    """Errors keep their evidence as attributes, show it in repr and survive pickling."""
    err = ConsentRequired("missing", purposes=("training",), rules=("PI-14",))
    assert err.purposes == ("training",) and err.rules == ("PI-14",)
    assert "purposes=('training',)" in repr(err)
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, ConsentRequired) and copy.purposes == ("training",)
    # a configuration error is both a ValueError and one of ours: each can catch it
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(ConfigurationError, ComplianceError)
    assert not issubclass(StoreUnavailable, ValueError)


CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@given(st.text(alphabet=CHARS, min_size=17, max_size=17))
def test_uscc_check_character_round_trip(body: str) -> None:
    """Property: a code with its computed check char validates; any other char fails."""
    good = body + uscc_check_char(body)
    assert validate_uscc(good) == good
    wrong = next(c for c in CHARS if c != good[-1])
    with pytest.raises(ConfigurationError, match="check character"):
        validate_uscc(body + wrong)


def test_from_toml_validates_against_schema(tmp_path: Path) -> None:
    """compliance.toml is schema-validated; errors name the field and the problem."""
    cfg = tmp_path / "compliance.toml"
    cfg.write_text('[provider]\nlegal_name = "示例"\nuscc = "91440300708461136T"\n'
                   'product_name = "P"\nmodel_code = "AB12"\n[ledger]\nuri = "sqlite:///l.db"\n'
                   'retention_days = 400\n', encoding="utf-8")
    comp = Compliance.from_toml(cfg, clock=FrozenClock())
    assert comp.provider.producer_code == "001191440300708461136T1AB12"
    assert comp.ledger.db.uri.path == str(tmp_path / "l.db")
    assert comp.ledger.retention == dt.timedelta(days=400)
    comp.close()
    cfg.write_text('[provider]\nlegal_name = "示例"\nuscc = "91440300708461136T"\n'
                   'product_name = "P"\n[ledger]\nretention_days = 30\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="ledger/retention_days"):
        Compliance.from_toml(cfg)
    cfg.write_text('[provider]\nlegal_name = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="uscc"):
        Compliance.from_toml(cfg)
    with pytest.raises(ConfigurationError, match="cannot read"):
        Compliance.from_toml(tmp_path / "missing.toml")


def test_provider_rejects_bad_uscc() -> None:
    """A provider with a mistyped credit code is refused with the expected check char."""
    with pytest.raises(ConfigurationError, match="expected 'T'"):
        Provider("x", "91440300708461136A", "p")


@pytest.mark.parametrize(("age", "band"), [(0, AgeBand.UNDER_3), (3, AgeBand.AGE_3_8),
                                           (11, AgeBand.AGE_8_12), (12, AgeBand.AGE_12_16),
                                           (17, AgeBand.AGE_16_18), (18, AgeBand.ADULT)])
def test_age_bands(age: int, band: AgeBand) -> None:
    """Ages map to the minors'-mode bands (MM-final)."""
    assert AgeBand.for_age(age) is band


def test_subject_age_on_birthday_edges() -> None:
    """Age counts whole years: the day before the 14th birthday is still under 14."""
    s = Subject("kid", birth_date="2012-06-15")
    assert s.age_on(dt.date(2026, 6, 14)) == 13 and s.is_under_14_on(dt.date(2026, 6, 14))
    assert s.age_on(dt.date(2026, 6, 15)) == 14 and not s.is_under_14_on(dt.date(2026, 6, 15))
    assert Subject("x").band_on(dt.date(2026, 1, 1)) is None
    with pytest.raises(ConfigurationError, match="ISO date"):
        Subject("x", birth_date="15/06/2012")


@given(st.text(min_size=0, max_size=20), st.integers(0, 20),
       st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]))
def test_identifiers_with_a_lone_surrogate_are_refused_by_name(
        text: str, at: int, surrogate: str) -> None:
    """A user, session or guardian id that is not valid Unicode (a JSON body can carry a
    lone surrogate as ``\\ud800``) is a ConfigurationError naming the field, never the
    value, at construction; before, it passed and failed later from deep inside a hash
    (a bare UnicodeEncodeError). Valid text is kept as given."""
    bad = text[:at] + surrogate + text[at:]
    for build, field in ((lambda v: Subject(v), "user_id"),
                         (lambda v: Subject("u", session_id=v), "session_id"),
                         (lambda v: Guardian(v), "guardian_id")):
        with pytest.raises(ConfigurationError) as exc:
            build(bad)
        assert exc.value.field == field and field in str(exc.value)
        assert bad not in str(exc.value)
    clean = text or "u"  # (hypothesis text holds no surrogates)
    assert Subject(clean, session_id=clean).user_id == clean
    for empty in ("", None, 5):
        with pytest.raises(ConfigurationError, match="user_id must be a non-empty string"):
            Subject(empty)  # type: ignore[arg-type]


def test_the_ledger_refuses_a_user_id_that_is_not_unicode(tmp_path: Path) -> None:
    """The ledger takes plain string ids too: one with a lone surrogate is a LedgerError
    (typed, before anything is written), and the ledger stays intact."""
    from genai_compliance import Ledger, LedgerError

    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", key_file=str(tmp_path / "k"),
                    witness_dir=str(tmp_path / "w"))
    with pytest.raises(LedgerError, match="valid Unicode"):
        ledger.append("test", {}, subject="user\ud800")
    with pytest.raises(LedgerError, match="valid Unicode"):
        ledger.subject_key("\udfff", purpose="minors")
    assert ledger.append("test", {}, subject="用户-1").seq == 1
    assert ledger.verify().ok
    ledger.close()


def test_kv_store_matrix(kv_uri: str, unique: str) -> None:
    """Every key-value backend sets, gets, increments atomically and expires."""
    store = open_store(kv_uri)
    key = f"gc-test:{unique}"
    assert store.get(key) is None
    store.set(key, b"v")
    assert store.get(key) == b"v"
    assert store.incr(key + ":n", 1.5, ttl=60) == 1.5
    assert store.incr(key + ":n", 2) == 3.5
    store.delete(key)
    assert store.get(key) is None
    store.delete(key + ":n")
    store.close()


def test_store_capabilities_and_unknown_schemes() -> None:
    """Stores declare capabilities; unsuitable or unknown stores are refused early."""
    with pytest.raises(ConfigurationError, match="redis://"):
        require_capabilities(open_store("memory://"), "shared", purpose="minor quotas")
    with pytest.raises(ConfigurationError, match="known schemes: memory, postgres"):
        open_store("mysql://x")


def test_rules_registry_is_well_formed() -> None:
    """Every rule has an ID, a summary and a source; IDs are unique."""
    rules = load_rules()
    assert len(rules) > 80
    for rule in rules.values():
        assert rule.id and rule.summary and rule.source and rule.tag


def test_unknown_rule_id_fails_at_definition() -> None:
    """A check citing an unknown obligation ID fails when the class is defined."""
    from genai_compliance import Check

    with pytest.raises(ConfigurationError, match="IM-99"):
        type("Bad", (Check,), {"rules": ("IM-99",)})
