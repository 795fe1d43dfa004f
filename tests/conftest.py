"""Shared fixtures: backends (SQLite, the real PostgreSQL and Redis), clocks, hypothesis."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from genai_compliance import Compliance, Subject
    from genai_compliance.clock import Clock

pytest_plugins = ["pytester"]

settings.register_profile(
    "default", deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough", deadline=None, max_examples=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_BASE = os.environ.get("GC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("GC_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _need(port: int, name: str) -> None:
    if not _reachable(port):
        if IN_CI:
            pytest.fail(f"{name} on 127.0.0.1:{port} is not reachable; under CI=true backend "
                        "tests must run (.ci/run starts the services)")
        pytest.skip(f"{name} on 127.0.0.1:{port} is not running")


@pytest.fixture(autouse=True)
def _genai_compliance_home(tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Default key files and witness folders of PostgreSQL ledgers (and of worker processes,
    which inherit the variable) go to a temporary home of each test's own, not ~/.local."""
    monkeypatch.setenv("GENAI_COMPLIANCE_HOME", str(tmp_path_factory.mktemp("gc-home")))


@pytest.fixture(name="postgres_uri")
def _postgres_uri() -> Iterator[str]:
    """A PostgreSQL URI with a schema of its own, dropped afterwards."""
    _need(5432, "PostgreSQL")
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    yield f"{PG_BASE}?schema={schema}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(name="redis_uri")
def _redis_uri() -> str:
    """The Redis URI. Never FLUSHDB: tests share the server; use :func:`unique` keys."""
    _need(6379, "Redis")
    return REDIS_BASE


@pytest.fixture(name="unique")
def _unique() -> str:
    """A short unique token for key prefixes and names."""
    return uuid.uuid4().hex[:12]


@pytest.fixture(name="sqlite_uri")
def _sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(name="sql_uri", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def _sql_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on the real PostgreSQL (STYLE 16)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_uri"))


def _backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The key-value store URI of the backend named by ``request.param``."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kv.db'}"
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_uri"))
    return str(request.getfixturevalue("redis_uri"))


@pytest.fixture(name="any_uri", params=["memory", "sqlite",
                                        pytest.param("postgresql", marks=pytest.mark.postgres),
                                        pytest.param("redis", marks=pytest.mark.redis)])
def _any_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every key-value backend: memory://, SQLite, the real PostgreSQL and Redis."""
    return _backend_uri(request, tmp_path)


@pytest.fixture(name="kv_uri", params=["memory", "sqlite",
                                       pytest.param("redis", marks=pytest.mark.redis)])
def _kv_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test on memory://, SQLite and the real Redis."""
    return _backend_uri(request, tmp_path)


def guarded_on_backends(postgres_uri: str, redis_uri: str, name: str, *,
                        birth_date: str = "1990-01-01", clock: Clock | None = None
                        ) -> tuple[Compliance, Subject, Callable[..., str]]:
    """``(compliance, subject, model)``: the full default pipeline with its ledger on the
    real PostgreSQL and its stores on the real Redis, a new subject ``name-…`` (born
    ``birth_date``) that has consented to ``service``, and a guarded sync model answering a
    fixed text. The caller closes the compliance object."""
    import hashlib
    import time

    from genai_compliance import Compliance, Subject
    from genai_compliance.consent import NoticeRef
    from genai_compliance.testing import TEST_PROVIDER, sample_keyword_file

    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    comp = Compliance(TEST_PROVIDER, ledger=postgres_uri, stores={"default": redis_uri},
                      settings={"moderation": {"keyword_files": [sample_keyword_file()]}},
                      **extra)
    user = Subject(f"{name}-{os.getpid()}-{time.time_ns()}", birth_date=birth_date)
    comp.consent.grant(user, "service",
                       notice=NoticeRef("1", hashlib.sha256(b"notice").hexdigest()))

    @comp.guard(purposes=["service"])
    def model(prompt: str) -> str:
        return "长城是中国古代的军事防御工程。"

    return comp, user, model
