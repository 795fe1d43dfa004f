"""Guardian controls: lower limits, allowed windows, pause, usage summary; each change is a
ledger record (MN-43, MM-final); and the ``genai-compliance minors`` CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_compliance.cli import main
from genai_compliance.compliance import Compliance
from genai_compliance.errors import (
    ConfigurationError,
    MinorCurfew,
    MinorQuotaExhausted,
    MinorRestricted,
)
from genai_compliance.minors import MinorProtection
from genai_compliance.schemas import validate
from genai_compliance.subject import Guardian, Subject
from genai_compliance.testing import FrozenClock, make_compliance

SH = dt.timezone(dt.timedelta(hours=8))
MUM = Guardian("mum-1", relation="mother", verified=True)


@pytest.fixture(name="clock")
def _clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH))


@pytest.fixture(name="comp")
def _comp(tmp_path: Path, clock: FrozenClock, kv_uri: str, unique: str) -> Iterator[Compliance]:
    """A Compliance whose minors store is each backend in turn."""
    comp = make_compliance(tmp_path, clock=clock, stores={"minors": kv_uri},
                           settings={"minors": {"key_prefix": f"test:{unique}"}})
    yield comp
    comp.close()


@pytest.fixture(name="prot")
def _prot(comp: Compliance) -> MinorProtection:
    return MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)


KID = Subject("kid-1", birth_date="2012-06-01", guardian=MUM)


def _use(prot: MinorProtection, clock: FrozenClock, seconds: float) -> None:
    adm = prot.admit(KID)
    assert adm is not None
    clock.advance(seconds)
    prot.release(adm, seconds)


def test_guardian_lowers_the_limit(prot: MinorProtection, comp: Compliance,
                                   clock: FrozenClock) -> None:
    """A lower daily limit takes effect and is recorded as minors.guardian.limit."""
    prot.set_daily_limit(KID, 20, guardian=MUM)
    _use(prot, clock, 1200)
    with pytest.raises(MinorQuotaExhausted) as info:
        prot.admit(KID)
    assert info.value.limit_minutes == 20
    summary = prot.usage(KID)
    assert (summary.limit_minutes, summary.guardian_limit_minutes,
            summary.policy_limit_minutes) == (20, 20, 60)
    prot.set_daily_limit(KID, None, guardian=MUM)
    assert prot.admit(KID) is not None
    records = list(comp.records("minors.guardian"))
    assert [r.kind for r in records] == ["minors.guardian.limit"] * 2
    assert records[0].payload["minutes"] == 20
    # the guardian is pseudonymised too, the same pseudonym in every record (MM-adjust)
    assert records[0].payload["guardian"].startswith("g:")
    assert "mum-1" not in json.dumps(records[0].payload)
    assert records[0].payload["guardian"] == records[1].payload["guardian"]
    assert records[0].subject is not None and records[0].subject != "kid-1"


def test_guardian_cannot_raise_the_limit(prot: MinorProtection, comp: Compliance) -> None:
    """Raising the limit above the policy is refused and nothing is recorded."""
    with pytest.raises(ConfigurationError, match="not raise"):
        prot.set_daily_limit(KID, 61, guardian=MUM)
    assert list(comp.records("minors.guardian")) == []


def test_only_the_guardian_may_change(prot: MinorProtection) -> None:
    """Another guardian id than the subject's is refused; adults have no guardian controls."""
    with pytest.raises(ConfigurationError, match="not the guardian"):
        prot.pause(KID, guardian=Guardian("stranger"))
    with pytest.raises(ConfigurationError, match="adult"):
        prot.pause(Subject("grown", birth_date="1990-01-01"), guardian=MUM)


def test_allowed_windows(prot: MinorProtection, comp: Compliance, clock: FrozenClock) -> None:
    """Outside a guardian's window the call is refused until the next window opens."""
    prot.set_allowed_windows(KID, ["08:00-09:30", ("16:00", "18:00")], guardian=MUM)
    assert prot.admit(KID) is not None  # 09:00
    clock.set(dt.datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    with pytest.raises(MinorCurfew) as info:
        prot.admit(KID)
    assert info.value.source == "guardian"
    assert info.value.retry_after == dt.datetime(2026, 3, 2, 16, 0, tzinfo=SH)
    summary = prot.usage(KID)
    assert summary.allowed_windows == ("08:00-09:30", "16:00-18:00")
    prot.set_allowed_windows(KID, None, guardian=MUM)
    assert prot.admit(KID) is not None
    kinds = [r.kind for r in comp.records("minors.guardian")]
    assert kinds == ["minors.guardian.windows"] * 2


def test_window_ends_a_running_call(prot: MinorProtection, clock: FrozenClock) -> None:
    """An admitted call's deadline is the end of the window it runs in."""
    prot.set_allowed_windows(KID, ["08:00-09:30"], guardian=MUM)
    adm = prot.admit(KID)
    assert adm is not None
    assert adm.deadline == dt.datetime(2026, 3, 2, 9, 30, tzinfo=SH)
    assert adm.deadline_reason == "window"
    err = prot.deadline_refusal(adm, adm.deadline)
    assert isinstance(err, MinorCurfew)


@pytest.mark.parametrize("windows", [["08:00"], ["08:00-08:00"], ["25:00-26:00"], []])
def test_bad_windows(prot: MinorProtection, windows: list[str]) -> None:
    """Malformed or empty windows raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        prot.set_allowed_windows(KID, windows, guardian=MUM)


def test_pause_and_resume(prot: MinorProtection, comp: Compliance, clock: FrozenClock) -> None:
    """A pause refuses every call until its end or a resume; both are ledger records."""
    until = dt.datetime(2026, 3, 2, 12, 0, tzinfo=SH)
    prot.pause(KID, guardian=MUM, until=until)
    with pytest.raises(MinorRestricted) as info:
        prot.admit(KID)
    assert info.value.retry_after == until and info.value.control == "pause"
    assert prot.usage(KID).paused_until == until
    clock.set(until)
    assert prot.admit(KID) is not None
    prot.pause(KID, guardian=MUM)
    with pytest.raises(MinorRestricted) as info:
        prot.admit(KID)
    assert info.value.retry_after is None
    assert prot.usage(KID).to_json()["paused_until"] == "indefinite"
    prot.resume(KID, guardian=MUM)
    assert prot.admit(KID) is not None
    kinds = [r.kind for r in comp.records("minors.guardian")]
    assert kinds == ["minors.guardian.pause", "minors.guardian.pause", "minors.guardian.resume"]


def test_pause_ends_a_running_stream(prot: MinorProtection, clock: FrozenClock) -> None:
    """A stream's lease renewal notices a pause set meanwhile and returns the refusal."""
    adm = prot.admit(KID)
    assert adm is not None
    clock.advance(120)
    assert prot.heartbeat(adm, clock.now()) is None
    prot.pause(KID, guardian=MUM)
    assert isinstance(prot.heartbeat(adm, clock.now()), MinorRestricted)


def test_usage_summary_json(prot: MinorProtection, clock: FrozenClock) -> None:
    """The summary validates against minors-usage.schema.json and keeps per-day history."""
    _use(prot, clock, 900)
    clock.advance(days=1)
    _use(prot, clock, 600)
    doc = prot.usage(KID, days=3).to_json()
    validate(doc, "minors-usage")
    assert doc["used_minutes"] == 10 and doc["remaining_minutes"] == 50
    assert [d["used_minutes"] for d in doc["history"]] == [10, 15, 0]
    assert doc["band"] == "12-16" and doc["timezone"] == "Asia/Shanghai"


def test_history_is_pruned(prot: MinorProtection, clock: FrozenClock) -> None:
    """Per-day history older than history_days is dropped from the store."""
    _use(prot, clock, 60)
    clock.advance(days=40)
    _use(prot, clock, 60)
    state = prot._run(prot.key(KID), prot._argv("snapshot", "-", clock.now()))
    assert not [f for f in state[::2] if f.startswith("h:")]


# -- CLI ---------------------------------------------------------------------------------
@pytest.fixture(name="config")
def _config(tmp_path: Path) -> Path:
    path = tmp_path / "compliance.toml"
    path.write_text(
        '[provider]\nlegal_name = "测试科技有限公司"\nuscc = "91440300708461136T"\n'
        'product_name = "测试助手"\n\n[ledger]\nuri = "sqlite:///ledger.db"\n\n'
        '[stores]\nminors = "sqlite:///minors.db"\n\n[minors]\nprofile = "draft-2023"\n',
        encoding="utf-8")
    return path


def test_cli_policy(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """`minors policy` prints the profile in force (from the config or by name)."""
    assert main(["minors", "policy", "-c", str(config), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "draft-2023" and doc["daily_minutes"]["3-8"] == 40
    assert main(["minors", "policy"]) == 0
    assert "22:00-06:00" in capsys.readouterr().out


def test_cli_guardian_and_usage(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """Guardian commands are recorded; `minors usage --json` follows the schema."""
    base = ["-c", str(config), "kid-9", "--band", "8-12", "--guardian", "dad"]
    assert main(["minors", "limit", *base, "30"]) == 0
    assert main(["minors", "windows", *base, "--allow", "07:00-21:00"]) == 0
    assert main(["minors", "pause", *base, "--until", "2030-01-01T08:00:00+08:00"]) == 0
    assert main(["minors", "resume", *base]) == 0
    capsys.readouterr()
    assert main(["minors", "usage", "-c", str(config), "kid-9", "--band", "8-12",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate(doc, "minors-usage")
    assert doc["limit_minutes"] == 30 and doc["allowed_windows"] == ["07:00-21:00"]
    assert doc["paused_until"] is None
    assert main(["minors", "limit", *base, "90"]) == 2  # above the policy's 60
    assert main(["minors", "windows", *base]) == 2  # neither windows nor --clear
    comp = Compliance.from_toml(config)
    try:
        kinds = [r.kind for r in comp.records("minors.guardian")]
    finally:
        comp.close()
    assert kinds == ["minors.guardian.limit", "minors.guardian.windows",
                     "minors.guardian.pause", "minors.guardian.resume"]


def test_state_kept_before_the_stores_update_is_migrated(tmp_path: Path,
                                                          clock: FrozenClock) -> None:
    """A SQLite deployment's former ``gc_minors_state`` table is moved into the store when
    minor protection is built: the minor keeps today's use and the guardian's limit."""
    from genai_compliance.stores import SQLDatabase

    uri = f"sqlite:///{tmp_path / 'minors.db'}"
    secret = b"test-minors-secret-0123456789"
    earlier = MinorProtection(store="memory://", clock=clock, key_secret=secret,
                              guardian_consent=lambda s: True)
    _use(earlier, clock, 600)
    earlier._run(earlier.key(KID), ["control", "glimit", "1800"])
    state = earlier.store.get(earlier.key(KID))
    assert state is not None
    db = SQLDatabase(uri)
    db.executescript(["CREATE TABLE gc_minors_state (key TEXT PRIMARY KEY, state TEXT NOT "
                      "NULL, updated REAL NOT NULL)"])
    with db.transaction(write=True) as tx:
        tx.execute("INSERT INTO gc_minors_state VALUES (?, ?, 0)",
                   (earlier.key(KID), state.decode()))
    db.close()
    now = MinorProtection(store=uri, clock=clock, key_secret=secret,
                          guardian_consent=lambda s: True)
    try:
        usage = now.usage(KID)
        assert usage.used_minutes == 10 and usage.guardian_limit_minutes == 30
        again = MinorProtection(store=now.store, clock=clock, key_secret=secret)
        assert again.usage(KID).used_minutes == 10  # built twice: moved once
    finally:
        now.store.close()


def test_from_compliance_is_deprecated_for_from_context(comp: Compliance) -> None:
    """The old constructor still works, warning that from_context replaces it."""
    with pytest.warns(DeprecationWarning, match="from_context"):
        prot = MinorProtection.from_compliance(comp, guardian_consent=lambda s: True)
    assert prot.policy.name == MinorProtection.from_context(
        comp.context, guardian_consent=lambda s: True).policy.name
