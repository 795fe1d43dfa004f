"""``MinorsCheck``: the guard check that applies :class:`MinorProtection` to every call.

``before`` admits or refuses (curfew, quota, pause, windows, guardian consent); ``on_chunk``
ends a stream at its deadline (the chunk that arrives at or after it is not delivered);
``close`` charges the call's real duration (start to end or cancellation, on the clock's
monotonic time), without waiting for the store's reply (one round trip per call on Redis,
and no worker thread for the async close there: the end only joins the store's outbox).
Reminders and the remaining quota go to ``ctx.response`` (what the caller is shown) and in
detail to ``ctx.metadata``; the band and the moderation profile to
``ctx.notes`` (so they reach the ``guard.call`` record and the moderation check that runs
after this one). The figures in the notes are whole milliseconds (``minor_used_ms``,
``minor_limit_ms``, ``minor_reminder_ms``): a record holding no float is canonicalised on the
ledger's fast path. Per-call state lives on the context (``ctx.state``), never on the check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import secrets
from collections.abc import Sequence
from typing import Any, ClassVar

from ..checks import CallContext, Check, Outcome
from ..subject import AgeBand
from ._protection import Admission, MinorProtection

__all__ = ["MinorsCheck"]


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds, the unit of the figures in a call's notes."""
    return round(seconds * 1000)


class MinorsCheck(Check):
    """Minors' curfew, daily quota, rest reminders and guardian controls in the guard.

    Put it before the moderation check (which reads ``ctx.notes["moderation_profile"]``).
    Metadata set for minors: ``minor_quota`` (``band``, ``used_minutes``, ``limit_minutes``,
    ``remaining_minutes``) and, when due, ``minor_reminder`` (``continuous_minutes``,
    ``message``) — a reminder is information, never a refusal (MM-final); ``exempt_until``
    in ``minor_quota`` while a guardian's exemption is in force (MM-exempt). A user of
    unknown age gets ``ctx.notes["age_unknown"]`` = the policy applied (MM-age-unknown).

    Notes (they reach the ``guard.call`` record): ``age_band``, ``moderation_profile``,
    ``minor_used_ms`` (the day's use after the call), ``minor_limit_ms`` (the day's limit),
    ``minor_reminder_ms`` (the continuous use a reminder was given at), all integers of
    milliseconds, and ``minor_exempt_until`` / ``minor_stream_ended`` (text).

    .. versionchanged:: 0.2 the notes ``minor_used_minutes``, ``minor_limit_minutes`` and
       ``minor_reminder`` (floats of minutes) became ``minor_used_ms``, ``minor_limit_ms``
       and ``minor_reminder_ms`` (integers): a float sent every minor's record down the
       ledger's slow canonical-JSON path.
    """

    name: ClassVar[str] = "minors"
    rules: ClassVar[tuple[str, ...]] = ("IM-10", "MM-final", "MN-43", "MN-44", "PI-28/31",
                                        "MN-PI", "MM-adjust", "MM-exempt", "MM-age-unknown")

    def __init__(self, protection: MinorProtection, *, fail_open: bool = False) -> None:
        self.protection = protection
        self.fail_open = fail_open
        #: store I/O: the async driver runs before/close in a worker thread (not for memory)
        self.blocking = bool(protection.blocking)
        #: this check's per-call state in ``ctx.state`` (the key ``ctx.state_for`` uses)
        self._key = f"{self.name}:{id(self)}"

    # -- helpers ------------------------------------------------------------------------
    def _now(self, ctx: CallContext, adm: Admission) -> dt.datetime:
        return adm.started + dt.timedelta(seconds=ctx.elapsed())

    def _band(self, ctx: CallContext) -> tuple[AgeBand, dt.datetime]:
        """The band the call is served under and its start in the zone (pure: no I/O); an
        unknown age is stated in the notes on every such call, "adult" included: the policy
        is never silent (MM-age-unknown). Raises :class:`AgeVerificationRequired` when the
        policy refuses unknown ages."""
        p = self.protection
        local = ctx.started_at.astimezone(p.tz)
        subject = ctx.subject
        band = None if subject is None else subject.band_on(local.date())
        if band is None:
            ctx.notes["age_unknown"] = p.policy.unknown_age  # MM-age-unknown
            band = p._unknown_band(subject)
        return band, local

    # -- sync ---------------------------------------------------------------------------
    def before(self, ctx: CallContext) -> None:
        band, local = self._band(ctx)
        if band.is_minor:
            self._admit(ctx, band, local)

    def _admit(self, ctx: CallContext, band: AgeBand, local: dt.datetime) -> None:
        p = self.protection
        notes = ctx.notes
        notes["age_band"] = band.value
        if p.policy.moderation_profile:
            notes["moderation_profile"] = p.policy.moderation_profile
        assert ctx.subject is not None  # a minor's band is known only for a subject
        adm = p._admit(ctx.subject, band, ctx.started_at, local,
                       ctx.call_id or secrets.token_hex(16), ctx.purposes)
        ctx.state[self._key] = (adm, [0.0])
        remaining = adm.remaining_seconds
        ctx.response.remaining_minutes = int(remaining // 60)
        quota: dict[str, Any] = {
            "band": band.value,
            "used_minutes": round(adm.used_seconds / 60, 3),
            "limit_minutes": round(adm.limit_seconds / 60, 3),
            "remaining_minutes": round(remaining / 60, 3),
        }
        ctx.metadata["minor_quota"] = quota
        if adm.exemption is not None and adm.exemption.active(ctx.started_at):
            quota["exempt_until"] = adm.exemption.until.isoformat().replace("+00:00", "Z")
            notes["minor_exempt_until"] = quota["exempt_until"]
        if adm.reminder is not None:
            ctx.metadata["minor_reminder"] = dict(adm.reminder)
            ctx.response.reminder = str(adm.reminder.get("message", ""))
            notes["minor_reminder_ms"] = _ms(adm.continuous_seconds)

    def _due(self, ctx: CallContext) -> tuple[Admission, dt.datetime] | None:
        """Check the stream's deadline (pure); return what a heartbeat needs when one is
        due (once per lease/3), else ``None``."""
        entry: tuple[Admission, list[float]] | None = ctx.state.get(self._key)
        if entry is None:
            return None
        adm, beat = entry
        now = self._now(ctx, adm)
        if adm.deadline is not None and now >= adm.deadline:
            ctx.notes["minor_stream_ended"] = adm.deadline_reason
            raise self.protection.deadline_refusal(adm, now)
        elapsed = ctx.elapsed()
        if elapsed - beat[0] >= self.protection.policy.lease_seconds / 3:
            beat[0] = elapsed
            return adm, now
        return None

    def _beat(self, ctx: CallContext, adm: Admission, now: dt.datetime) -> None:
        refusal = self.protection.heartbeat(adm, now)
        if refusal is not None:
            ctx.notes["minor_stream_ended"] = "pause"
            raise refusal

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        due = self._due(ctx)
        if due is not None:
            self._beat(ctx, *due)
        return (chunk,)

    def close(self, ctx: CallContext, outcome: Outcome) -> None:
        entry: tuple[Admission, list[float]] | None = ctx.state.pop(self._key, None)
        if entry is not None:
            self._release(ctx, entry)

    def _release(self, ctx: CallContext, entry: tuple[Admission, list[float]]) -> None:
        # the charge is pipelined: on Redis it rides with the store's next operation
        self._charged(ctx, entry[0], self.protection.release(
            entry[0], ctx.elapsed(), self._renewed(entry), wait=False))

    @staticmethod
    def _renewed(entry: tuple[Admission, list[float]]) -> dt.datetime | None:
        """When the call was last heard of: its last heartbeat (``None``: its start)."""
        adm, beat = entry
        return adm.started + dt.timedelta(seconds=beat[0]) if beat[0] else None

    def _charged(self, ctx: CallContext, adm: Admission, usage: dict[str, Any]) -> None:
        """Show the usage after the call (what the release told) to the caller and the
        call's record."""
        quota = ctx.metadata.get("minor_quota")
        if isinstance(quota, dict):
            quota["used_minutes"] = usage["used_minutes"]
            quota["remaining_minutes"] = usage["remaining_minutes"]
        notes = ctx.notes
        notes["minor_used_ms"] = _ms(usage["used_seconds"])
        if math.isfinite(adm.limit_seconds):
            notes["minor_limit_ms"] = _ms(adm.limit_seconds)
        if usage.get("remaining_minutes") is not None:
            ctx.response.remaining_minutes = int(usage["remaining_minutes"])
        if "reminder" in usage:
            ctx.metadata["minor_reminder"] = usage["reminder"]
            ctx.response.reminder = str(usage["reminder"].get("message", ""))
            notes["minor_reminder_ms"] = _ms(usage["continuous_seconds"])

    # -- async: store I/O in a worker thread; adults (pure band check) stay on the loop ---
    async def abefore(self, ctx: CallContext) -> None:
        band, local = self._band(ctx)  # pure; an unknown age refused right here
        if not band.is_minor:
            return
        if self.blocking:
            await asyncio.to_thread(self._admit, ctx, band, local)
        else:
            self._admit(ctx, band, local)

    async def aclose(self, ctx: CallContext, outcome: Outcome) -> None:
        entry: tuple[Admission, list[float]] | None = ctx.state.pop(self._key, None)
        if entry is None:
            return
        if not self.blocking:
            self._release(ctx, entry)
            return
        # on a "script" store the charge goes to the outbox (no I/O): no thread hop
        told = self.protection._release_told(entry[0], ctx.elapsed(), self._renewed(entry))
        if told is not None:
            self._charged(ctx, entry[0], told)
        else:  # only the store can tell (another day, a lease run out) or no scripts
            await asyncio.to_thread(self._release, ctx, entry)

    async def aon_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        due = self._due(ctx)  # pure: inline; the heartbeat (store I/O) off the loop
        if due is not None:
            if self.blocking:
                await asyncio.to_thread(self._beat, ctx, *due)
            else:
                self._beat(ctx, *due)
        return (chunk,)
