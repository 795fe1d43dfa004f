"""A withdrawal seen by one process is enforced by another within the staleness bound."""

from __future__ import annotations

import hashlib
import time

import pytest

from genai_compliance import ConsentRequired, Ledger, Subject
from genai_compliance.consent import ConsentService, NoticeRef

NOTICE = NoticeRef("1", hashlib.sha256(b"n").hexdigest())
USER = Subject("replica-user", birth_date="1990-01-01")


@pytest.mark.redis
@pytest.mark.postgres
def test_withdrawal_reaches_other_replica_via_redis(postgres_uri: str, redis_uri: str) -> None:
    """Two services (two caches) on the real PostgreSQL; Redis pub/sub clears the cache."""
    ledger = Ledger(postgres_uri)
    a = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    b = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    try:
        time.sleep(0.3)  # subscriptions established
        a.grant(USER, "service", notice=NOTICE)
        time.sleep(0.3)
        b.require(USER, ["service"])  # cached in b now
        a.withdraw(USER, "service")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if b.missing(USER, ["service"]):
                break
            time.sleep(0.05)
        with pytest.raises(ConsentRequired):
            b.require(USER, ["service"])
    finally:
        a.close()
        b.close()
        ledger.close()


@pytest.mark.postgres
def test_without_pubsub_the_staleness_bound_holds(postgres_uri: str) -> None:
    """Without pub/sub another replica sees the withdrawal once its cache entry is stale."""
    ledger = Ledger(postgres_uri)
    a = ConsentService(postgres_uri, ledger, max_staleness=0.5)
    b = ConsentService(postgres_uri, ledger, max_staleness=0.5)
    a.grant(USER, "service", notice=NOTICE)
    b.require(USER, ["service"])
    a.withdraw(USER, "service")
    time.sleep(0.6)
    with pytest.raises(ConsentRequired):
        b.require(USER, ["service"])
    ledger.close()


@pytest.mark.redis
@pytest.mark.postgres
def test_withdrawal_in_another_process_is_enforced_here(postgres_uri: str,
                                                        redis_uri: str) -> None:
    """A withdrawal made by a separate OS process reaches this replica through Redis."""
    import subprocess
    import sys

    ledger = Ledger(postgres_uri)
    here = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    try:
        time.sleep(0.3)
        here.grant(USER, "training", notice=NOTICE)
        here.require(USER, ["training"])  # now cached for an hour
        script = (
            "import hashlib\n"
            "from genai_compliance import Ledger, Subject\n"
            "from genai_compliance.consent import ConsentService\n"
            f"ledger = Ledger({postgres_uri!r})\n"
            f"s = ConsentService({postgres_uri!r}, ledger, pubsub_uri={redis_uri!r})\n"
            "s.withdraw(Subject('replica-user', birth_date='1990-01-01'), 'training')\n"
            "s.close(); ledger.close()\n")
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not here.missing(USER, ["training"]):
            time.sleep(0.05)
        with pytest.raises(ConsentRequired):
            here.require(USER, ["training"])
    finally:
        here.close()
        ledger.close()
