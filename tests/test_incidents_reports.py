"""Reports for the authority and signed bundles (IM-14a, IM-15, CSL-INC); the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import Compliance, ConfigurationError, FrozenClock, SigningError, Subject
from genai_compliance.cli import main
from genai_compliance.crypto import generate_ed25519, private_pem, public_pem
from genai_compliance.incidents import (
    Incidents,
    incident_report,
    periodic_summary,
    verify_bundle,
    write_bundle,
)
from genai_compliance.schemas import validate
from genai_compliance.testing import TEST_PROVIDER, make_compliance

USER = Subject("user-1", birth_date="1990-01-01")
KEY = generate_ed25519()


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    yield comp
    comp.close()


def _fill(inc: Incidents) -> tuple[str, str]:
    case = inc.handle_block(risk="A.1f", content="bad output", where="output", subject=USER)
    for _ in range(3):
        inc.register_input(USER, illegal=True, risk="A.1a")
    inc.appeal(USER, "news")
    inc.decide_appeal(USER, upheld=False)
    c = inc.file_complaint(channel="web", category="content")
    inc.update_complaint(c.id, "replied", reply="ok")
    si = inc.security_incident("leak", critical_infrastructure=True)
    return case, si.id


def test_reports_validate(comp: Compliance) -> None:
    """Incident reports of both kinds and the periodic summary validate and carry counts."""
    inc: Incidents = comp.incidents
    case, si = _fill(inc)
    report = incident_report(inc, provider=TEST_PROVIDER, case=case)
    assert report["type"] == "illegal-content" and report["risk_name_zh"] == "宣扬暴力、淫秽色情"
    assert report["measures"][:2] == ["stop_generation", "stop_transmission"]
    assert report["subject"] == comp.ledger.pseudonym(USER)
    sreport = incident_report(inc, provider=TEST_PROVIDER, case=si)
    assert sreport["type"] == "security-incident" and sreport["late"] is False
    now = comp.clock.now()
    summary = periodic_summary(inc, provider=TEST_PROVIDER, since=now - dt.timedelta(days=1),
                               until=now + dt.timedelta(seconds=1))
    assert summary["blocked_by_risk"] == {"A.1f": 1} and summary["retraining_cases"] == 1
    assert summary["illegal_use"] == {"measures": {"warned": 1, "limited": 1, "suspended": 1},
                                      "subjects": 1,
                                      "appeals": {"filed": 1, "upheld": 0, "rejected": 1}}
    assert summary["complaints"]["replied_on_time"] == 1
    assert [s["id"] for s in summary["security_incidents"]] == [si]
    with pytest.raises(ConfigurationError, match="since < until"):
        periodic_summary(inc, provider=TEST_PROVIDER, since=now, until=now)


def test_report_schema_rejects_wrong_documents() -> None:
    """The shipped schemas refuse a report missing its measures or with a bad risk code."""
    doc = {"schema": "genai-compliance/incident-report/1", "type": "illegal-content",
           "provider": {"legal_name": None, "uscc": None, "product_name": None,
                        "service_filing_number": None},
           "id": "case-0123456789abcdef", "generated_at": "2026-03-02T02:00:00+00:00",
           "detected_at": "2026-03-02T02:00:00+00:00", "rules": ["IM-14a"], "risk": "A.9z",
           "risk_name_zh": None, "risk_name_en": None, "where": "input",
           "content_sha256": "0" * 64, "measures": ["removed"], "subject": None,
           "ledger_seq": 1, "ledger_hash": "0" * 64}
    with pytest.raises(ConfigurationError, match="risk"):
        validate(doc, "incident-report")
    doc["risk"] = "A.1a"
    validate(doc, "incident-report")
    del doc["measures"]
    with pytest.raises(ConfigurationError, match="measures"):
        validate(doc, "incident-report")


@pytest.mark.parametrize("name", ["b.zip", "b.tar", "b.tar.gz"])
def test_bundle_round_trip_and_reproducible(tmp_path: Path, name: str) -> None:
    """Zip and tar bundles verify with the signer's key, not another, and are reproducible
    byte for byte."""
    docs = {"a.json": {"x": 1}, "b.json": [1, "二"]}
    first = write_bundle(tmp_path / name, docs, KEY)
    data = first.read_bytes()
    assert verify_bundle(first, KEY.public_key()) == ["a.json", "b.json"]
    assert write_bundle(tmp_path / name, docs, KEY).read_bytes() == data
    with pytest.raises(SigningError, match="signature does not verify"):
        verify_bundle(first, generate_ed25519().public_key())


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return path


@settings(max_examples=60)
@given(which=st.integers(0, 10), pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_flipped_bit_is_detected(tmp_path_factory: pytest.TempPathFactory, which: int,
                                     pos: int, bit: int) -> None:
    """Property: flipping any bit of any member (document, manifest or signature) makes
    verification fail."""
    folder = tmp_path_factory.mktemp("t")
    bundle = write_bundle(folder / "b.zip", {"summary.json": {"risk": "A.1f", "n": 3},
                                             "complaints.json": []}, KEY)
    members = _members(bundle)
    name = sorted(members)[which % len(members)]
    data = bytearray(members[name])
    data[pos % len(data)] ^= 1 << bit
    members[name] = bytes(data)
    with pytest.raises(SigningError):
        verify_bundle(_zip(folder / "t.zip", members), KEY.public_key())


def test_edited_added_and_removed_files_are_named(tmp_path: Path) -> None:
    """An edited document is named; extra or missing files and garbage are refused."""
    bundle = write_bundle(tmp_path / "b.zip", {"summary.json": {"risk": "A.1f"}}, KEY)
    members = _members(bundle)
    edited = dict(members, **{"summary.json": members["summary.json"].replace(b"A.1f",
                                                                              b"A.1g")})
    with pytest.raises(SigningError, match=r"summary\.json was changed"):
        verify_bundle(_zip(tmp_path / "e.zip", edited), KEY.public_key())
    with pytest.raises(SigningError, match="do not match its manifest"):
        verify_bundle(_zip(tmp_path / "x.zip", dict(members, **{"extra.json": b"{}"})),
                      KEY.public_key())
    with pytest.raises(SigningError, match=r"manifest\.sig is missing"):
        verify_bundle(_zip(tmp_path / "m.zip", {k: v for k, v in members.items()
                                                 if k != "manifest.sig"}), KEY.public_key())
    (tmp_path / "junk.zip").write_bytes(b"not an archive")
    with pytest.raises(SigningError):
        verify_bundle(tmp_path / "junk.zip", KEY.public_key())
    with pytest.raises(ConfigurationError, match="plain"):
        write_bundle(tmp_path / "n.zip", {"../evil.json": {}}, KEY)


def test_tar_member_tamper_detected(tmp_path: Path) -> None:
    """A tar bundle whose document was rewritten fails verification."""
    bundle = write_bundle(tmp_path / "b.tar", {"s.json": {"n": 1}}, KEY)
    with tarfile.open(bundle) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
    members["s.json"] = b'{"n": 2}\n'
    out = tmp_path / "t.tar"
    with tarfile.open(out, "w") as tf:
        for n, data in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with pytest.raises(SigningError, match="changed after signing"):
        verify_bundle(out, KEY.public_key())


def test_bundle_refuses_invalid_documents(tmp_path: Path) -> None:
    """A document naming a shipped schema is validated before it is signed."""
    with pytest.raises(ConfigurationError, match=r"complaints\.json"):
        write_bundle(tmp_path / "b.zip", {"complaints.json": [
            {"schema": "genai-compliance/complaint/1", "id": "nope"}]}, KEY)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "compliance.toml"
    p = TEST_PROVIDER
    cfg.write_text(f"""
[provider]
legal_name = "{p.legal_name}"
uscc = "{p.uscc}"
product_name = "{p.product_name}"
service_filing_number = "{p.service_filing_number}"

[ledger]
uri = "sqlite:///{tmp_path / 'ledger.db'}"
durability = "process"

[complaints]
response_working_days = 10
""", encoding="utf-8")
    return cfg


def test_cli_export_verify_and_complaints(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """incidents export writes validated documents and a bundle that verify-bundle accepts
    (exit 0) and rejects after an edit (exit 1); complaints list --overdue exits 1."""
    cfg = _config(tmp_path)
    comp = Compliance.from_toml(cfg, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    case, si = _fill(comp.incidents)
    late = comp.incidents.file_complaint(channel="email", category="privacy")
    comp.close()
    out = tmp_path / "out"
    assert main(["incidents", "export", "--config", str(cfg), "-o", str(out),
                 "--since", "2026-03-01"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert f"incident-report-{case}.json" in names and f"incident-report-{si}.json" in names
    summary = json.loads((out / "periodic-summary.json").read_text("utf-8"))
    assert summary["provider"]["uscc"] == TEST_PROVIDER.uscc
    assert summary["complaints"]["response_working_days"] == 10
    pub = str(out / "signer.pub.pem")
    assert main(["incidents", "verify-bundle", str(out / "bundle.zip"),
                 "--public-key", pub]) == 0
    members = _members(out / "bundle.zip")
    members["complaints.json"] = members["complaints.json"].replace(b"email", b"phone")
    _zip(tmp_path / "bad.zip", members)
    assert main(["incidents", "verify-bundle", str(tmp_path / "bad.zip"),
                 "--public-key", pub]) == 1
    assert "NOT valid" in capsys.readouterr().out
    # filed in March with a 10-working-day limit: overdue by now (the CLI's system clock)
    assert main(["complaints", "list", "--overdue", "--config", str(cfg)]) == 1
    listed = capsys.readouterr().out
    assert late.id in listed and "OVERDUE" in listed
    assert main(["complaints", "alerts", "--config", str(cfg)]) == 1
    assert main(["complaints", "alerts", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["incidents", "report", case, "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == case


def test_cli_export_from_ledger_uri_with_tar_and_own_key(tmp_path: Path) -> None:
    """--ledger exports without a config (empty provider block) into a tar bundle signed
    with the given key."""
    uri = f"sqlite:///{tmp_path / 'ledger.db'}"
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    comp.incidents.handle_block(risk="A.1a", content="x", where="input")
    comp.close()
    keyfile = tmp_path / "k.pem"
    keyfile.write_bytes(private_pem(KEY))
    (tmp_path / "k.pub").write_bytes(public_pem(KEY.public_key()))
    out = tmp_path / "o"
    assert main(["incidents", "export", "--ledger", uri, "-o", str(out), "--format", "tar",
                 "--signing-key", str(keyfile), "--since", "2026-01-01",
                 "--until", "2026-12-31"]) == 0
    assert verify_bundle(out / "bundle.tar", KEY.public_key())[0].startswith("complaints")
    summary: dict[str, Any] = json.loads((out / "periodic-summary.json").read_text("utf-8"))
    assert summary["provider"]["legal_name"] is None and summary["illegal_content_cases"] == 1
    assert main(["incidents", "export", "--ledger", uri, "-o", str(out),
                 "--since", "yesterday"]) == 2
