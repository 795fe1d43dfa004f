"""`genai-compliance ledger verify|prove|consistency|verify-proof|export|keygen|…` and
`rules`, as a user runs them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from genai_compliance import FrozenClock, Ledger
from genai_compliance.cli import main
from genai_compliance.crypto import generate_ed25519, public_pem


def _ledger(tmp_path: Path, n: int = 5) -> tuple[str, Path]:
    path = tmp_path / "ledger.db"
    clock = FrozenClock("2026-02-01T00:00:00+00:00")
    ledger = Ledger(f"sqlite:///{path}", clock=clock, checkpoint_every=2)
    for i in range(n):
        ledger.append("consent.grant" if i % 2 else "guard.call", {"i": i})
        clock.advance(days=1)
    ledger.close()
    return f"sqlite:///{path}", path


def test_verify_intact_ledger_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    """An intact ledger: exit 0, record and checkpoint counts printed, the default witness
    folder found and compared, and the key reported as not pinned."""
    uri, _ = _ledger(tmp_path)
    assert main(["ledger", "verify", uri]) == 0
    out = capsys.readouterr().out
    # every 2 records, and whenever a record waited a (frozen-clock) day: 2, 3, 4, 5
    assert "records: 5" in out and "checkpoints: 4" in out and "intact" in out
    assert "witnesses: 4 checkpoints compared" in out and "consistency only" in out
    assert main(["ledger", "verify", uri, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["records"] == 5 and report["proves"] == "consistency"


def test_verify_tampered_ledger_exits_one_naming_seq(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An edited record: exit 1 and the first bad sequence number."""
    uri, path = _ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE gc_ledger_records SET payload = '{\"i\":99}' WHERE seq = 3")
    assert main(["ledger", "verify", uri]) == 1
    assert "first bad sequence number 3" in capsys.readouterr().out


def test_verify_with_pinned_public_key(tmp_path: Path) -> None:
    """--public-key pins the checkpoint key: the embedded key's checkpoints are refused."""
    uri, _ = _ledger(tmp_path)
    pem = tmp_path / "other.pub"
    pem.write_bytes(public_pem(generate_ed25519().public_key()))
    assert main(["ledger", "verify", uri, "--public-key", str(pem)]) == 1
    key = generate_ed25519()
    signed = Ledger(f"sqlite:///{tmp_path / 's.db'}", signing_key=key)
    signed.append("x", {})
    signed.close()
    pem.write_bytes(public_pem(key.public_key()))
    assert main(["ledger", "verify", f"sqlite:///{tmp_path / 's.db'}", "--public-key",
                 str(pem)]) == 0


def test_export_json_lines_with_filters(tmp_path: Path) -> None:
    """export writes JSON Lines: the tree head, then the records filtered by kind prefix and
    time range, each with its inclusion proof."""
    uri, _ = _ledger(tmp_path)
    out = tmp_path / "out.jsonl"
    assert main(["ledger", "export", uri, "--kind", "consent", "--since", "2026-02-02",
                 "--until", "2026-02-04T12:00:00+00:00", "-o", str(out)]) == 0
    head, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert head["type"] == "genai-compliance/ledger-export/v1" and head["tree_size"] == 5
    assert [(r["seq"], r["kind"]) for r in rows] == [(2, "consent.grant"), (4, "consent.grant")]
    assert {"seq", "time", "kind", "subject", "payload", "prev_hash", "hash"} <= set(rows[0])
    assert all(r["inclusion_proof"] for r in rows)
    assert main(["ledger", "export", uri, "--no-proofs", "-o", str(out)]) == 0
    assert json.loads(out.read_text().splitlines()[1]).get("inclusion_proof") is None


def test_bad_uri_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scheme exits 2 with the list of known schemes."""
    assert main(["ledger", "verify", "mongo://x"]) == 2
    assert "known schemes" in capsys.readouterr().err


def test_rules_lists_ids_and_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    """`rules --json` lists every obligation with the code implementing it."""
    assert main(["rules", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"IM-14a", "LM-5", "SR-5", "CSL-21", "PI-15"} <= set(rows)
    assert "genai_compliance.ledger._ledger.Ledger" in rows["CSL-21"]["implemented_by"]
    assert main(["rules"]) == 0
    assert "rules have an implementation; none yet:" in capsys.readouterr().out


def test_console_script_and_module_entry_point(tmp_path: Path) -> None:
    """`python -m genai_compliance` works as the console script does."""
    uri, _ = _ledger(tmp_path, 2)
    proc = subprocess.run([sys.executable, "-m", "genai_compliance", "ledger", "verify", uri],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "intact" in proc.stdout


def _keyed(tmp_path: Path, n: int = 9) -> tuple[str, Path, Path]:
    """A ledger on a key file; returns the URI, the key file and the public key file."""
    key_file = tmp_path / "keys" / "ledger.key"
    pub = tmp_path / "ledger.pub"
    assert main(["ledger", "keygen", "--key-file", str(key_file), "--public-key-out",
                 str(pub)]) == 0
    uri = f"sqlite:///{tmp_path / 'k.db'}"
    ledger = Ledger(uri, key_file=key_file, checkpoint_every=4,
                    clock=FrozenClock("2026-02-01T00:00:00+00:00"))
    for i in range(n):
        ledger.append("guard.call", {"i": i}, subject=f"u{i}")
    ledger.close()
    return uri, key_file, pub


def test_prove_and_verify_proof_offline(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`prove` writes an inclusion proof, `consistency` a consistency proof; `verify-proof`
    checks both with only the public key, after the database is gone."""
    uri, _key, pub = _keyed(tmp_path)
    proof, cons = tmp_path / "p.json", tmp_path / "c.json"
    assert main(["ledger", "prove", uri, "6", "-o", str(proof)]) == 0
    assert main(["ledger", "consistency", uri, "4", "8", "-o", str(cons)]) == 0
    assert main(["ledger", "prove", uri, "99"]) == 2
    Path(uri.removeprefix("sqlite:///")).unlink()
    capsys.readouterr()
    assert main(["ledger", "verify-proof", str(proof), "--public-key", str(pub)]) == 0
    assert "proof valid" in capsys.readouterr().out
    assert main(["ledger", "verify-proof", str(cons), "--public-key", str(pub)]) == 0
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(generate_ed25519().public_key()))
    assert main(["ledger", "verify-proof", str(proof), "--public-key", str(other)]) == 1
    doc = json.loads(proof.read_text())
    doc["record"]["payload"]["i"] = 7
    proof.write_text(json.dumps(doc))
    assert main(["ledger", "verify-proof", str(proof), "--public-key", str(pub), "--json"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ok"] is False


def test_an_export_verifies_offline_and_a_changed_line_fails(tmp_path: Path) -> None:
    """The regulator export carries the tree head and one proof per record; verify-proof
    checks every line; one edited record fails it."""
    uri, _key, pub = _keyed(tmp_path)
    out = tmp_path / "export.jsonl"
    assert main(["ledger", "export", uri, "-o", str(out)]) == 0
    assert main(["ledger", "verify-proof", str(out), "--public-key", str(pub)]) == 0
    lines = out.read_text().splitlines()
    row = json.loads(lines[3])
    row["kind"] = "guard.refused"
    lines[3] = json.dumps(row)
    out.write_text("\n".join(lines) + "\n")
    assert main(["ledger", "verify-proof", str(out), "--public-key", str(pub)]) == 1


def test_keygen_public_key_vkey_and_strict(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`keygen` never overwrites; `public-key` prints the PEM and the signed-note verifier
    key; `verify --strict` passes only with the key pinned (PEM or vkey)."""
    uri, key_file, pub = _keyed(tmp_path)
    assert main(["ledger", "keygen", "--key-file", str(key_file)]) == 2
    capsys.readouterr()
    assert main(["ledger", "public-key", "--key-file", str(key_file), "--uri", uri]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-----BEGIN PUBLIC KEY-----")
    vkey = out.strip().splitlines()[-1]
    assert vkey.startswith("genai-compliance.invalid/ledger/") and len(vkey.split("+", 2)) == 3
    assert main(["ledger", "verify", uri, "--strict"]) == 1
    assert "strict: no public key" in capsys.readouterr().out
    assert main(["ledger", "verify", uri, "--strict", "--public-key", str(pub)]) == 0
    assert main(["ledger", "verify", uri, "--strict", "--public-key", vkey]) == 0
    assert "intact (strict)" in capsys.readouterr().out


def test_rotate_key_and_checkpoint_commands(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`rotate-key` hands over to a new key written to the key file; the old pinned key
    still verifies the whole ledger through the rotation record."""
    uri, key_file, pub = _keyed(tmp_path)
    assert main(["ledger", "rotate-key", uri, "--key-file", str(key_file)]) == 0
    new_pem = capsys.readouterr().out
    assert main(["ledger", "checkpoint", uri, "--key-file", str(key_file)]) == 0
    (tmp_path / "new.pub").write_text(new_pem)
    for pinned in (pub, tmp_path / "new.pub"):
        assert main(["ledger", "verify", uri, "--public-key", str(pinned), "--strict"]) == 0


def test_migrate_keys_moves_01_secrets_into_a_key_file(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """`migrate-keys` moves a development-mode (or 0.1) ledger's secrets into a key file;
    afterwards verify no longer reports an embedded key."""
    uri = f"sqlite:///{tmp_path / 'dev.db'}"
    ledger = Ledger(uri, dev_mode=True, checkpoint_every=2)
    ledger.append_many([])
    for i in range(3):
        ledger.append("x", {"i": i}, subject="alice")
    name = ledger.pseudonym("alice")
    ledger.close()
    key_file = tmp_path / "moved.key"
    assert main(["ledger", "migrate-keys", uri, "--key-file", str(key_file)]) == 0
    moved = Ledger(uri, key_file=key_file)
    assert moved.pseudonym("alice") == name
    moved.close()
    capsys.readouterr()
    assert main(["ledger", "verify", uri, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedded_key"] is False
