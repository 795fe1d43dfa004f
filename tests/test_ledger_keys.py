"""Secrets outside the ledger: key files, environment variables, callback signers, the
explicit development mode, key rotation and the migration of 0.1 ledgers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import ConfigurationError, FrozenClock, Ledger, Subject
from genai_compliance.crypto import (
    Ed25519CallbackSigner,
    generate_ed25519,
    key_id,
    private_pem,
    public_pem,
)
from genai_compliance.ledger import Entry, ReadOnlyLedger, canonical, record_hash, verify_ledger
from genai_compliance.ledger._keys import read_key_file
from genai_compliance.minors._keys import subject_store_key
from strategies_ledger import q, raw


def _dump(uri: str) -> bytes:
    """Everything stored in the ledger's tables, as bytes."""
    out = []
    with raw(uri) as conn:
        for table in ("gc_ledger_meta", "gc_ledger_records", "gc_subject_keys",
                      "gc_ledger_tree_heads", "gc_ledger_checkpoints"):
            out += [repr(r) for r in q(conn, f"SELECT * FROM {table}")]
    return "\n".join(out).encode()


def test_default_keys_live_in_a_0600_key_file_not_in_the_ledger(sql_uri: str, tmp_path: Path,
                                                                monkeypatch: Any) -> None:
    """By default the signing key and the pseudonym secret are generated once into a key
    file (0600, folder 0700) outside the database; its tables hold neither."""
    monkeypatch.setenv("GENAI_COMPLIANCE_HOME", str(tmp_path / "home"))
    ledger = Ledger(sql_uri, checkpoint_every=2)
    ledger.append_many([Entry("x", {"i": i}, "alice") for i in range(5)])
    ledger.close()
    path = ledger._key_path
    assert path is not None and os.path.isfile(path)
    if sql_uri.startswith("sqlite"):
        assert Path(path).parent == Path(sql_uri.removeprefix("sqlite:///")).parent / \
            "genai-compliance-keys"
    else:
        assert path.startswith(str(tmp_path / "home" / "keys"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    material = read_key_file(path)
    assert material.secret is not None and material.signer is not None
    dump = _dump(sql_uri)
    assert b"PRIVATE KEY" not in dump
    assert base64.b64encode(material.secret) not in dump
    assert material.secret.hex().encode() not in dump
    with raw(sql_uri) as conn:
        keys = {r[0] for r in q(conn, "SELECT key FROM gc_ledger_meta")}
    assert not keys & {"signing_key", "pseudonym_secret"}
    again = Ledger(sql_uri)
    assert again.key_id == ledger.key_id
    assert again.pseudonym("alice") == ledger.pseudonym("alice")
    assert again.verify(material.signer.public_key()).ok
    again.close()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A key file other users can read is refused with the chmod to run (as ssh does)."""
    key_file = tmp_path / "k.key"
    Ledger(f"sqlite:///{tmp_path / 'a.db'}", key_file=key_file).close()
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Ledger(f"sqlite:///{tmp_path / 'a.db'}", key_file=key_file)


def test_keys_from_an_environment_variable(tmp_path: Path, monkeypatch: Any) -> None:
    """``key_env`` holds a key file's text or its base64; no file is created; a missing
    variable is a clear error naming the setting."""
    source = tmp_path / "src.key"
    Ledger(f"sqlite:///{tmp_path / 'seed.db'}", key_file=source).close()
    text = source.read_text()
    for value in (text, base64.b64encode(text.encode()).decode()):
        monkeypatch.setenv("GC_LEDGER_KEYS", value)
        db = tmp_path / f"env{len(value)}.db"
        ledger = Ledger(f"sqlite:///{db}", key_env="GC_LEDGER_KEYS")
        assert ledger.key_id == key_id(read_key_file(str(source)).signer.public_key())  # type: ignore[union-attr]
        assert ledger.key_source == "environment variable GC_LEDGER_KEYS"
        ledger.close()
        assert not (db.parent / "genai-compliance-keys" / f"{db.name}.key").exists()
    monkeypatch.delenv("GC_LEDGER_KEYS")
    with pytest.raises(ConfigurationError, match=r"ledger\.key_env"):
        Ledger(f"sqlite:///{tmp_path / 'x.db'}", key_env="GC_LEDGER_KEYS")


def test_a_callback_signer_signs_checkpoints(tmp_path: Path) -> None:
    """A KMS/HSM callback signer: the private key never reaches the ledger; checkpoints
    verify with its public key; a callback signing with another key fails loudly."""
    hsm_key = generate_ed25519()
    calls: list[bytes] = []

    def sign(data: bytes) -> bytes:
        calls.append(data)
        return hsm_key.sign(data)

    signer = Ed25519CallbackSigner(public_pem(hsm_key.public_key()), sign)
    uri = f"sqlite:///{tmp_path / 'hsm.db'}"
    ledger = Ledger(uri, signing_key=signer, pseudonym_secret=b"h" * 32, checkpoint_every=3)
    ledger.append_many([Entry("x", {"i": i}) for i in range(7)])
    ledger.close()
    assert len(calls) == 2 * 3  # checkpoints at 3, 6 and 7; a note and a cosignature each
    assert verify_ledger(uri, hsm_key.public_key()).ok
    wrong = Ed25519CallbackSigner(hsm_key.public_key(), generate_ed25519().sign)
    with pytest.raises(Exception, match="another key"):
        wrong.sign(b"data")


def test_development_mode_is_explicit_and_proves_consistency_only(tmp_path: Path) -> None:
    """``dev_mode=True`` keeps generated secrets in the tables; verify says so and fails
    under strict even with the right public key pinned."""
    uri = f"sqlite:///{tmp_path / 'dev.db'}"
    ledger = Ledger(uri, dev_mode=True, checkpoint_every=2, witness_dir=False)
    ledger.append_many([Entry("x", {"i": i}) for i in range(4)])
    public = ledger.public_key()
    ledger.close()
    assert b"PRIVATE KEY" in _dump(uri)
    assert not (tmp_path / "genai-compliance-keys").exists()
    report = verify_ledger(uri, public)
    assert report.ok and report.embedded_key and report.proves == "consistency"
    assert report.warnings
    strict = verify_ledger(uri, public, strict=True)
    assert not strict.ok and "development mode" in (strict.problem or "")
    reopened = Ledger(uri, dev_mode=True, witness_dir=False)
    assert reopened.key_id == key_id(public)
    reopened.close()


def test_the_wrong_key_or_secret_is_a_clear_error(tmp_path: Path) -> None:
    """Another signing key, or another pseudonym secret, than the ledger's own is refused
    (pseudonyms would silently change; checkpoints would be signed by a stranger)."""
    uri = f"sqlite:///{tmp_path / 'a.db'}"
    Ledger(uri, key_file=tmp_path / "a.key").close()
    with pytest.raises(ConfigurationError, match="rotate"):
        Ledger(uri, signing_key=generate_ed25519(),
               pseudonym_secret=read_key_file(str(tmp_path / "a.key")).secret)
    with pytest.raises(ConfigurationError, match="pseudonym secret"):
        Ledger(uri, key_file=tmp_path / "other.key")


def test_key_rotation_is_followed_from_either_pinned_key(tmp_path: Path) -> None:
    """A rotation record signed by the old and the new key hands over: pinning the old key
    or the new one verifies everything; an unrelated key does not."""
    uri = f"sqlite:///{tmp_path / 'r.db'}"
    key_file = tmp_path / "r.key"
    ledger = Ledger(uri, key_file=key_file, checkpoint_every=3)
    old = ledger.public_key()
    ledger.append_many([Entry("x", {"i": i}) for i in range(7)])
    record = ledger.rotate_key(reason="test")
    assert record.kind == "ledger.key" and record.payload["old_key_id"] == key_id(old)
    new = ledger.public_key()
    assert key_id(new) != key_id(old)
    ledger.append_many([Entry("y", {"i": i}) for i in range(5)])
    ledger.close()
    assert read_key_file(str(key_file)).signer.public_key() == new  # type: ignore[union-attr]
    with ReadOnlyLedger(uri) as ro:
        assert {cp.key_id for cp in ro.checkpoints()} == {key_id(old), key_id(new)}
    for pinned in (old, new):
        report = verify_ledger(uri, pinned)
        assert report.ok, report
        assert set(report.key_ids) == {key_id(old), key_id(new)}
    assert not verify_ledger(uri, generate_ed25519().public_key()).ok
    with pytest.raises(ConfigurationError, match="rotate"):  # a stranger's key
        Ledger(uri, signing_key=generate_ed25519(),
               pseudonym_secret=read_key_file(str(key_file)).secret)


def test_a_retired_key_cannot_sign_later_checkpoints(tmp_path: Path) -> None:
    """After a rotation, a checkpoint of a later tree signed by the old key (a stolen
    retired key) fails verification."""
    from genai_compliance.ledger._note import sign_checkpoint

    uri = f"sqlite:///{tmp_path / 'r.db'}"
    old = generate_ed25519()
    ledger = Ledger(uri, signing_key=old, pseudonym_secret=b"r" * 32, checkpoint_every=100)
    ledger.append_many([Entry("x", {"i": i}) for i in range(4)])
    ledger.rotate_key(generate_ed25519())
    ledger.append_many([Entry("y", {"i": i}) for i in range(3)])
    size, root = ledger.tree_head()
    origin = ledger.origin
    ledger.close()
    forged = sign_checkpoint(origin, size, root, FrozenClock().now(), old)
    with raw(uri) as conn:
        q(conn, "DELETE FROM gc_ledger_tree_heads WHERE size = ?", (size,))
        q(conn, "INSERT INTO gc_ledger_tree_heads VALUES (?, ?, ?, ?, ?)",
          (size, root.hex(), "2026-01-01T00:00:00Z", forged.key_id, forged.note))
    report = verify_ledger(uri, old.public_key(), checkpoints=[])
    assert not report.ok and "retired" in (report.problem or "")


def test_another_process_picks_up_a_rotated_key_file(tmp_path: Path) -> None:
    """Two writers on one key file: after one rotates, the other reloads the key file and
    signs with the new key."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    key_file = tmp_path / "m.key"
    first = Ledger(uri, key_file=key_file, checkpoint_every=2)
    second = Ledger(uri, key_file=key_file, checkpoint_every=2)
    first.append("a", {})
    first.rotate_key()
    second.append_many([Entry("b", {}), Entry("c", {})])
    assert second.key_id == first.key_id
    first.close()
    second.close()
    assert verify_ledger(uri, first.public_key()).ok


# -- 0.1 ledgers --------------------------------------------------------------------------
def _ledger_v01(path: Path, n: int = 7, every: int = 3) -> tuple[Any, bytes, dict[str, str]]:
    """A ledger exactly as 0.1 wrote it: secrets in gc_ledger_meta, 0.1 checkpoints, 0.1
    subject keys, no 0.2 tables."""
    key = generate_ed25519()
    secret = secrets.token_hex(32).encode()
    kid = key_id(key.public_key())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("""
        CREATE TABLE gc_ledger_records (seq BIGINT PRIMARY KEY, time TEXT NOT NULL,
          kind TEXT NOT NULL, subject TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL);
        CREATE TABLE gc_ledger_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL,
          time TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
        CREATE TABLE gc_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE gc_subject_keys (ref TEXT PRIMARY KEY, subject_key TEXT NOT NULL,
          created TEXT NOT NULL);""")
    names: dict[str, str] = {}
    for user in ("alice", "bob"):
        ref = hmac.new(secret, b"ref\x00" + user.encode(), hashlib.sha256).hexdigest()
        k = secrets.token_hex(32)
        conn.execute("INSERT INTO gc_subject_keys VALUES (?, ?, ?)",
                     (ref, k, "2025-06-01T00:00:00.000000Z"))
        names[user] = "p:" + hmac.new(bytes.fromhex(k), user.encode(),
                                      hashlib.sha256).hexdigest()[:32]
    prev = "0" * 64
    for seq in range(1, n + 1):
        t = f"2025-06-01T00:00:{seq:02d}.000000Z"
        subj = names["alice" if seq % 2 else "bob"]
        digest = record_hash(seq, t, "guard.call", subj, {"i": seq}, prev)
        conn.execute("INSERT INTO gc_ledger_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (seq, t, "guard.call", subj, canonical({"i": seq}).decode(), prev,
                      digest))
        if seq % every == 0:
            ct = t[:19] + ".000000Z"
            msg = b"genai-compliance/ledger-checkpoint/v1\n" + canonical(
                {"seq": seq, "hash": digest, "time": ct, "key_id": kid})
            sig = base64.urlsafe_b64encode(key.sign(msg)).rstrip(b"=").decode()
            conn.execute("INSERT INTO gc_ledger_checkpoints VALUES (?, ?, ?, ?, ?)",
                         (seq, digest, ct, kid, sig))
        prev = digest
    for k, v in (("head", f"{n}:{prev}"), ("anchor", ""),
                 ("signing_key", private_pem(key).decode()),
                 ("pseudonym_secret", secret.decode()),
                 (f"pubkey:{kid}", public_pem(key.public_key()).decode())):
        conn.execute("INSERT INTO gc_ledger_meta VALUES (?, ?)", (k, v))
    conn.close()
    return key, secret, names


def test_a_01_ledger_still_verifies_read_only(tmp_path: Path) -> None:
    """A 0.1 ledger (no 0.2 tables) verifies read-only, its 0.1 checkpoints included, and
    is reported as keeping its key inside (consistency only)."""
    key, _secret, _names = _ledger_v01(tmp_path / "old.db")
    report = verify_ledger(f"sqlite:///{tmp_path / 'old.db'}", key.public_key())
    assert report.ok, report
    assert report.records == 7 and report.checkpoints == 2 and report.embedded_key
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("UPDATE gc_ledger_records SET payload = '{\"i\":99}' WHERE seq = 5")
    conn.close()
    bad = verify_ledger(f"sqlite:///{tmp_path / 'old.db'}", key.public_key())
    assert not bad.ok and bad.first_bad_seq == 5


def test_opening_a_01_ledger_moves_its_secrets_out(tmp_path: Path) -> None:
    """Opened by 0.2 (no dev mode), a 0.1 ledger's secrets move into the default key file:
    pseudonyms are kept, a rotation record signed by the old key and the new one hands
    checkpoints over, and the tables no longer hold either secret."""
    old_key, secret, names = _ledger_v01(tmp_path / "old.db")
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    ledger = Ledger(uri, checkpoint_every=3)
    assert ledger.pseudonym("alice") == names["alice"]
    assert [r.seq for r in ledger.records(subject=Subject("bob"))] == [2, 4, 6]
    rotation = list(ledger.records(kind="ledger.key"))
    assert len(rotation) == 1 and rotation[0].payload["old_key_id"] == key_id(
        old_key.public_key())
    new_key = ledger.public_key()
    ledger.append("after.migration", {}, subject="alice")
    ledger.close()
    material = read_key_file(str(tmp_path / "genai-compliance-keys" / "old.db.key"))
    assert material.secret == secret
    dump = _dump(uri)
    assert b"PRIVATE KEY" not in dump and secret not in dump
    for pinned in (old_key.public_key(), new_key):
        report = verify_ledger(uri, pinned)
        assert report.ok and not report.embedded_key, report


def test_pseudonyms_resist_a_database_only_brute_force(tmp_path: Path) -> None:
    """Guessing user ids against the stored subject keys alone does not reproduce a
    pseudonym (it needs the secret kept outside); the pseudonym is stable."""
    uri = f"sqlite:///{tmp_path / 'p.db'}"
    ledger = Ledger(uri)
    name = ledger.append("x", {}, subject="13800138000").subject
    with raw(uri) as conn:
        stored = [r[0] for r in q(conn, "SELECT subject_key FROM gc_subject_keys")]
    for value in stored:
        k = bytes.fromhex(value.removeprefix("v2:"))
        assert "p:" + hmac.new(k, b"13800138000", hashlib.sha256).hexdigest()[:32] != name
    assert ledger.pseudonym("13800138000") == name
    ledger.close()


def test_subject_key_is_the_one_keyed_id_for_other_duties(tmp_path: Path) -> None:
    """``subject_key`` is a keyed HMAC: stable, separated by purpose, different under
    another secret, untouched by ``forget_subject``; the minors' store keys use it."""
    a = Ledger(f"sqlite:///{tmp_path / 'a.db'}", pseudonym_secret=b"a" * 32,
               signing_key=generate_ed25519())
    b = Ledger(f"sqlite:///{tmp_path / 'b.db'}", pseudonym_secret=b"b" * 32,
               signing_key=generate_ed25519())
    key = a.subject_key("13800138000", purpose="minors")
    assert key == a.subject_key(Subject("13800138000"), purpose="minors")
    assert key != a.subject_key("13800138000", purpose="cache")
    assert key != b.subject_key("13800138000", purpose="minors")
    assert "13800138000" not in key and len(key) == 32
    a.append("x", {}, subject="13800138000")
    a.forget_subject("13800138000")
    assert a.subject_key("13800138000", purpose="minors") == key
    assert subject_store_key(a, "13800138000") == f"gc:minors:{key}"
    unkeyed = hashlib.blake2b(b"13800138000", digest_size=16, person=b"gc-minors").hexdigest()
    assert unkeyed not in subject_store_key(a, "13800138000")
    with pytest.raises(ConfigurationError):
        subject_store_key(b"short", "u")
    a.close()
    b.close()


def test_the_ledger_section_of_compliance_toml(tmp_path: Path) -> None:
    """``[ledger]`` keys reach the ledger through the settings seam; relative paths resolve
    against the config file's folder; ``witness_dir = false`` turns the witness off."""
    from genai_compliance import Compliance

    cfg = tmp_path / "conf" / "compliance.toml"
    cfg.parent.mkdir()
    provider = ('[provider]\nlegal_name = "示例"\nuscc = "91440300708461136T"\n'
                'product_name = "P"\n')
    cfg.write_text(provider + '[ledger]\nuri = "sqlite:///l.db"\nkey_file = "keys/l.key"\n'
                   'witness_dir = "witness"\ncheckpoint_every = 5\n'
                   'checkpoint_interval_seconds = 30\norigin = "example.cn/ledger"\n'
                   'max_batch = 50\n', encoding="utf-8")
    comp = Compliance.from_toml(cfg, clock=FrozenClock())
    for i in range(6):
        comp.record("guard.call", {"i": i}, subject=f"u{i}")
    assert comp.ledger.origin == "example.cn/ledger"
    assert comp.ledger.checkpoint_interval == 30 and comp.ledger.max_batch == 50
    comp.close()
    base = tmp_path / "conf"
    assert (base / "keys" / "l.key").is_file()
    assert (base / "witness" / "example.cn_ledger" / "checkpoint").read_text().split(
        "\n")[:2] == ["example.cn/ledger", "6"]
    cfg.write_text(provider + '[ledger]\nuri = "sqlite:///m.db"\nwitness_dir = false\n',
                   encoding="utf-8")
    comp = Compliance.from_toml(cfg, clock=FrozenClock())
    comp.record("x", {})
    comp.close()
    assert comp.ledger.witnesses == []
    assert (base / "genai-compliance-keys" / "m.db.key").is_file()
    assert not (base / "genai-compliance-witness").exists()


def test_duty_store_keys_under_a_standalone_secret_keep_their_form() -> None:
    """Keys already in a store stay valid: under a standalone secret a duty's store key is
    ``prefix:`` + HMAC-SHA256(secret, purpose NUL user id)[:32], the guardian pseudonym
    ``g:`` + the same under ``minors.guardian`` (SubjectKeys serves minors and interaction)."""
    from genai_compliance.minors._keys import guardian_pseudonym
    from genai_compliance.subject import SubjectKeys

    secret = b"s" * 32

    def mac(purpose: bytes, uid: bytes) -> str:
        return hmac.new(secret, purpose + b"\x00" + uid, hashlib.sha256).hexdigest()[:32]

    assert subject_store_key(secret, "13800138000") == "gc:minors:" + mac(b"minors",
                                                                        b"13800138000")
    assert guardian_pseudonym(secret, "mum") == "g:" + mac(b"minors.guardian", b"mum")
    keys = SubjectKeys(secret, purpose="interaction", prefix="gc:ia", setting="x")
    assert keys(Subject("u1")) == keys("u1") == "gc:ia:" + mac(b"interaction", b"u1")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        SubjectKeys(b"short", purpose="interaction", prefix="p", setting="x")
