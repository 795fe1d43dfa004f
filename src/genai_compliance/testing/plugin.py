"""pytest plugin (entry point ``pytest11``): fixtures for testing code that uses the SDK.

Installed with the package, so a provider's own test suite gets these without imports:

``frozen_clock``              a :class:`~genai_compliance.FrozenClock` (2026-01-01 12:00 Beijing)
``compliance``                a Compliance on a fresh SQLite ledger in ``tmp_path``
``subject_factory``           adults, children under 8, 12- and 17-year-olds, with or without
                              a guardian
``ledger_records``            the records of ``compliance``'s ledger, by kind
``expect_record``             declare a record the test must produce (checked at teardown)
``assert_refused``            call and assert a typed refusal that was recorded
``assert_labelled``           assert text carries an explicit label / a file an implicit one
``test_signing_credentials``  C2PA credentials from the test CA (session-scoped)
``keyword_library``           a small keyword library (placeholder terms, not real content)

Configure ``compliance`` with a marker::

    @pytest.mark.compliance(checks=[...], settings={"minors": {...}}, durability="process")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..clock import SHANGHAI, FrozenClock
from ..compliance import Compliance
from ..errors import Refusal
from ..ledger import Record
from ..subject import Guardian, Subject
from . import make_compliance

__all__ = ["SubjectFactory"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compliance(**options): options for the genai_compliance `compliance` "
        "fixture (checks=, settings=, stores=, durability=)")


@pytest.fixture(name="frozen_clock")
def _frozen_clock() -> FrozenClock:
    """A clock frozen at 2026-01-01 04:00 UTC (12:00 Asia/Shanghai); ``advance``/``set``."""
    return FrozenClock()


@pytest.fixture(name="compliance")
def _compliance(request: pytest.FixtureRequest, tmp_path: Path,
                frozen_clock: FrozenClock) -> Iterator[Compliance]:
    """A Compliance on a fresh SQLite ledger in ``tmp_path``, driven by ``frozen_clock``."""
    marker = request.node.get_closest_marker("compliance")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    checks = options.pop("checks", None)
    comp = make_compliance(tmp_path / "genai-compliance", clock=frozen_clock, checks=checks,
                           **options)
    yield comp
    comp.close()


class SubjectFactory:
    """Builds subjects of a given age on the frozen clock's local date.

    ``make("adult")``, ``make("child")`` (7), ``make("preteen")`` (12), ``make("teen")`` (17),
    or ``make(age=15)``; ``guardian=True`` attaches a verified guardian.
    """

    PRESETS: ClassVar[dict[str, int]] = {
        "adult": 30, "child": 7, "child_under_8": 7, "preteen": 12, "age_12": 12, "teen": 17,
        "age_17": 17,
    }

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.count = 0

    def __call__(self, preset: str | None = None, *, age: int | None = None,
                 guardian: bool = False, user_id: str | None = None) -> Subject:
        if age is None:
            if preset not in self.PRESETS:
                raise ValueError(f"preset must be one of {sorted(self.PRESETS)} or pass "
                                 f"age=; got {preset!r}")
            age = self.PRESETS[preset]
        self.count += 1
        today = self.clock.now().astimezone(SHANGHAI).date()
        try:
            born = today.replace(year=today.year - age) - dt.timedelta(days=1)
        except ValueError:  # 29 February
            born = today.replace(year=today.year - age, day=28)
        uid = user_id or f"{preset or 'age' + str(age)}-{self.count}"
        return Subject(user_id=uid, birth_date=born,
                       guardian=Guardian(f"guardian-of-{uid}", verified=True) if guardian
                       else None, session_id=f"session-{self.count}")


@pytest.fixture(name="subject_factory")
def _subject_factory(frozen_clock: FrozenClock) -> SubjectFactory:
    """Make subjects: ``subject_factory("preteen", guardian=True)``, ``(age=15)``."""
    return SubjectFactory(frozen_clock)


@pytest.fixture(name="ledger_records")
def _ledger_records(compliance: Compliance) -> Callable[..., list[Record]]:
    """``ledger_records("guard.call")``: the records of that kind (prefix), in order."""

    def records(kind: str | None = None) -> list[Record]:
        return list(compliance.records(kind))

    return records


@pytest.fixture(name="expect_record")
def _expect_record(compliance: Compliance) -> Iterator[Callable[..., None]]:
    """Declare ``expect_record("consent.grant", purpose="training")``; the test fails at
    teardown unless a record of that kind with those payload values was written."""
    wanted: list[tuple[str, dict[str, Any]]] = []

    def expect(kind: str, **payload: Any) -> None:
        wanted.append((kind, payload))

    yield expect
    unmet = []
    for kind, payload in wanted:
        if not any(all(r.payload.get(k) == v for k, v in payload.items())
                   for r in compliance.records(kind)):
            unmet.append(f"{kind} {payload}")
    if unmet:
        pytest.fail("expected ledger records were not written: " + "; ".join(unmet),
                    pytrace=False)


@pytest.fixture(name="assert_refused")
def _assert_refused(compliance: Compliance) -> Callable[..., Refusal]:
    """``assert_refused(fn, ErrorType, *args, **kwargs)``: the call raises that refusal and
    a refused ``guard.call`` record was written; returns the error."""

    def check(fn: Callable[..., Any], error_type: type[Refusal], *args: Any,
              **kwargs: Any) -> Refusal:
        before = sum(1 for _ in compliance.records("guard.call"))
        with pytest.raises(error_type) as info:
            result = fn(*args, **kwargs)
            if hasattr(result, "__next__"):
                list(result)
        after = [r.payload for r in compliance.records("guard.call")][before:]
        assert any(p.get("outcome") == "refused" for p in after), (
            "the refusal was raised but no refused guard.call record was written")
        return info.value

    return check


@pytest.fixture(name="assert_labelled")
def _assert_labelled() -> Callable[[Any], Any]:
    """``assert_labelled(text_or_bytes_or_path)``: text must carry an explicit AI label
    (GB 45438 §5.1); a file (bytes or path) a compliant implicit label (LM-5)."""

    def check(output: Any) -> Any:
        if isinstance(output, str) and not Path(output).is_file():
            from ..errors import LabelError
            from ..labelling.explicit import validate_label_text

            for part in [p.strip() for p in output.replace("\r", "").split("\n")]:
                if not part or len(part) > 120:
                    continue
                try:
                    return validate_label_text(part)
                except LabelError:
                    continue
            raise AssertionError(
                f"no explicit AI-generated label (GB 45438 §5.1) in the text: {output[:80]!r}")
        from ..labelling.inspect import inspect as inspect_file

        report = inspect_file(output)
        assert report.verdict == "compliant", (
            f"implicit label verdict is {report.verdict!r}: {report}")
        return report

    return check


@pytest.fixture(name="test_signing_credentials", scope="session")
def _test_signing_credentials(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """C2PA signing credentials from a fresh test CA (for tests only)."""
    from ..crypto import SigningCredentials, create_test_ca

    folder = tmp_path_factory.mktemp("test-ca")
    create_test_ca(folder)
    return SigningCredentials.from_pem(folder / "chain.pem", folder / "signing.key",
                                       trust_anchors=folder / "trust-anchors.pem")


@pytest.fixture(name="keyword_library")
def _keyword_library() -> Any:
    """The small sample keyword library shipped with the package (placeholder terms)."""
    from ..moderation import KeywordLibrary

    return KeywordLibrary.sample()
