"""``MinorsCheck``: the guard check that applies :class:`MinorProtection` to every call.

``before`` admits or refuses (curfew, quota, pause, windows, guardian consent); ``on_chunk``
ends a stream at its deadline (the chunk that arrives at or after it is not delivered);
``close`` charges the call's real duration (start to end or cancellation, on the clock's
monotonic time), without waiting for the store's reply (one round trip per call on Redis).
Reminders and the remaining quota go to ``ctx.response`` (what the caller is shown) and in
detail to ``ctx.metadata``; the band and the moderation profile to
``ctx.notes`` (so they reach the ``guard.call`` record and the moderation check that runs
after this one). Per-call state lives on the context (``ctx.state``), never on the check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from ..checks import CallContext, Check, Outcome
from ._protection import Admission, MinorProtection

__all__ = ["MinorsCheck"]


class MinorsCheck(Check):
    """Minors' curfew, daily quota, rest reminders and guardian controls in the guard.

    Put it before the moderation check (which reads ``ctx.notes["moderation_profile"]``).
    Metadata set for minors: ``minor_quota`` (``band``, ``used_minutes``, ``limit_minutes``,
    ``remaining_minutes``) and, when due, ``minor_reminder`` (``continuous_minutes``,
    ``message``) — a reminder is information, never a refusal (MM-final); ``exempt_until``
    in ``minor_quota`` while a guardian's exemption is in force (MM-exempt). A user of
    unknown age gets ``ctx.notes["age_unknown"]`` = the policy applied (MM-age-unknown).
    """

    name: ClassVar[str] = "minors"
    rules: ClassVar[tuple[str, ...]] = ("IM-10", "MM-final", "MN-43", "MN-44", "PI-28/31",
                                        "MN-PI", "MM-adjust", "MM-exempt", "MM-age-unknown")

    def __init__(self, protection: MinorProtection, *, fail_open: bool = False) -> None:
        self.protection = protection
        self.fail_open = fail_open
        #: store I/O: the async driver runs before/close in a worker thread (not for memory)
        self.blocking = bool(protection.blocking)

    # -- helpers ------------------------------------------------------------------------
    def _now(self, ctx: CallContext, adm: Admission) -> dt.datetime:
        return adm.started + dt.timedelta(seconds=ctx.elapsed())

    # -- sync ---------------------------------------------------------------------------
    def before(self, ctx: CallContext) -> None:
        p = self.protection
        if ctx.subject is None or ctx.subject.band_on(
                ctx.started_at.astimezone(p.tz).date()) is None:
            # stated on every such call, "adult" included: the policy is never silent
            ctx.notes["age_unknown"] = p.policy.unknown_age  # MM-age-unknown
        band = p.band(ctx.subject, ctx.started_at)
        if not band.is_minor:
            return
        ctx.notes["age_band"] = band.value
        if p.policy.moderation_profile:
            ctx.notes["moderation_profile"] = p.policy.moderation_profile
        adm = p.admit(ctx.subject, call_id=ctx.call_id, at=ctx.started_at,
                      purposes=ctx.purposes)
        if adm is None:  # pragma: no cover - band said minor
            return
        ctx.state_for(self, lambda: (adm, [0.0]))
        ctx.response.remaining_minutes = int(adm.remaining_seconds // 60)
        ctx.metadata["minor_quota"] = {
            "band": band.value,
            "used_minutes": round(adm.used_seconds / 60, 3),
            "limit_minutes": round(adm.limit_seconds / 60, 3),
            "remaining_minutes": round(adm.remaining_seconds / 60, 3),
        }
        if adm.exemption is not None and adm.exemption.active(ctx.started_at):
            ctx.metadata["minor_quota"]["exempt_until"] = adm.exemption.until.isoformat(
                ).replace("+00:00", "Z")
            ctx.notes["minor_exempt_until"] = ctx.metadata["minor_quota"]["exempt_until"]
        if adm.reminder is not None:
            ctx.metadata["minor_reminder"] = dict(adm.reminder)
            ctx.response.reminder = str(adm.reminder.get("message", ""))
            ctx.notes["minor_reminder"] = adm.reminder["continuous_minutes"]

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
        entry: tuple[Admission, list[float]] | None = ctx.pop_state(self)
        if entry is None:
            return
        adm, beat = entry
        # the charge is pipelined: on Redis it rides with this thread's next operation
        usage = self.protection.release(adm, ctx.elapsed(),
                                        adm.started + dt.timedelta(seconds=beat[0]),
                                        wait=False)
        quota = ctx.metadata.get("minor_quota")
        if isinstance(quota, dict):
            quota["used_minutes"] = usage["used_minutes"]
            quota["remaining_minutes"] = usage["remaining_minutes"]
        ctx.notes["minor_used_minutes"] = usage["used_minutes"]
        if isinstance(quota, dict) and quota.get("limit_minutes") is not None:
            ctx.notes["minor_limit_minutes"] = quota["limit_minutes"]
        if usage.get("remaining_minutes") is not None:
            ctx.response.remaining_minutes = int(usage["remaining_minutes"])
        if "reminder" in usage:
            ctx.metadata["minor_reminder"] = usage["reminder"]
            ctx.response.reminder = str(usage["reminder"].get("message", ""))
            ctx.notes["minor_reminder"] = usage["reminder"]["continuous_minutes"]

    # -- async: store I/O in a worker thread; adults (pure band check) stay on the loop ---
    async def abefore(self, ctx: CallContext) -> None:
        if self.blocking and self._is_minor(ctx):
            await asyncio.to_thread(self.before, ctx)
        else:
            self.before(ctx)

    async def aclose(self, ctx: CallContext, outcome: Outcome) -> None:
        if self.blocking and self._key in ctx.state:
            await asyncio.to_thread(self.close, ctx, outcome)
        else:
            self.close(ctx, outcome)

    def _is_minor(self, ctx: CallContext) -> bool:
        """Whether ``before`` will touch the store (a minor: quota, curfew, guardian)."""
        try:
            return bool(self.protection.band(ctx.subject, ctx.started_at).is_minor)
        except Exception:  # e.g. age verification required: let ``before`` say so
            return False

    async def aon_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        due = self._due(ctx)  # pure: inline; the heartbeat (store I/O) off the loop
        if due is not None:
            if self.blocking:
                await asyncio.to_thread(self._beat, ctx, *due)
            else:
                self._beat(ctx, *due)
        return (chunk,)

    @property
    def _key(self) -> str:
        return f"{self.name}:{id(self)}"
