"""``InteractionCheck``: the guard check that applies :class:`Interaction` to every call.

``before`` refuses personas the minors' rules forbid (AN-14), ends the session on an exit
keyword without calling the model (AN-EXIT), refuses calls in a session the user ended,
and shows the disclosures and continuous-use reminders due under the profiles in force
(each one a ledger record); ``on_chunk`` stops a stream whose session the user ended
meanwhile (checked every ``exit_poll_seconds``); ``close`` counts the call's duration as
continuous use. Notices go to ``ctx.response.reminder`` (what the caller is shown; the
ASGI middleware sends it as ``X-GenAI-Reminder``), in detail to
``ctx.metadata["interaction_notices"]``, and their kinds to ``ctx.notes`` (the
``guard.call`` record). Per-call state lives on the context, never on the check.

Guard options read: ``persona`` (the setting ``persona_option``; a keyword argument of that
name works too), ``interaction_profiles`` (narrow the profiles in force for this function),
``session_id`` (overrides ``Subject.session_id``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..checks import CallContext, Check, Outcome
from ._service import Admission, Interaction, Notice

__all__ = ["InteractionCheck"]


@attrs.define
class _Call:
    admission: Admission
    polled: float = 0.0


class InteractionCheck(Check):
    """AI-interaction disclosure, continuous-use reminders, exit and minors' personas in the
    guard. Put it after the consent and minors checks, before moderation."""

    name: ClassVar[str] = "interaction"
    rules: ClassVar[tuple[str, ...]] = ("AN-DISCLOSE", "AN-PAUSE", "AN-EXIT", "AN-14",
                                        "EU-50-1", "EU-50-5", "SB243-22602", "NY-GBL-1702")

    def __init__(self, interaction: Interaction, *, fail_open: bool = False) -> None:
        if not isinstance(interaction, Interaction):
            from ..errors import ConfigurationError

            raise ConfigurationError(
                "InteractionCheck needs a genai_compliance.interaction.Interaction, got "
                f"{type(interaction).__name__}", field="interaction",
                value=type(interaction).__name__)
        self.interaction = interaction
        self.fail_open = fail_open
        #: store I/O: the async driver runs the sync methods in a worker thread
        self.blocking = interaction.blocking

    # -- helpers --------------------------------------------------------------------------
    def _persona(self, ctx: CallContext) -> str | None:
        name = self.interaction.settings.persona_option
        value = ctx.options.get(name, ctx.kwargs.get(name))
        return None if value is None else str(value)

    def _session(self, ctx: CallContext) -> str | None:
        value = ctx.options.get("session_id")
        return None if value is None else str(value)

    def _gate(self, ctx: CallContext) -> bool:
        """Persona rules and the exit keyword; True when the prompt asks to exit."""
        self.interaction.check_persona(ctx.subject, self._persona(ctx), ctx.started_at)
        return self.interaction.settings.exit_requested(ctx.prompt)

    def _exit(self, ctx: CallContext) -> None:
        """End the session on the exit keyword: the model is never called (AN-EXIT)."""
        ctx.notes["interaction_exit"] = "keyword"
        if ctx.subject is not None:
            self.interaction.exit(ctx.subject, session_id=self._session(ctx), via="keyword",
                                  at=ctx.started_at)
        raise self.interaction.exited_refusal(
            self._session(ctx) or (ctx.subject.session_id if ctx.subject else None) or "",
            "keyword")

    def _admit(self, ctx: CallContext) -> Admission:
        profiles = ctx.options.get("interaction_profiles")
        adm = self.interaction.admit(ctx.subject, session_id=self._session(ctx),
                                     at=ctx.started_at, profiles=profiles)
        ctx.state_for(self, lambda: _Call(adm))
        return adm

    @staticmethod
    def _show(ctx: CallContext, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        texts: list[str] = []
        for n in notices:
            if n.text not in texts:
                texts.append(n.text)
        shown = "\n".join(texts)
        ctx.response.reminder = (shown if not ctx.response.reminder
                                 else f"{ctx.response.reminder}\n{shown}")
        ctx.metadata["interaction_notices"] = [n.to_json() for n in notices]
        ctx.notes["interaction_notices"] = [f"{n.profile}:{n.kind}:{n.trigger}"
                                            for n in notices]

    def _ended(self, ctx: CallContext, call: _Call) -> dt.datetime:
        return call.admission.started + dt.timedelta(seconds=ctx.elapsed())

    def _due_poll(self, ctx: CallContext) -> _Call | None:
        call: _Call | None = ctx.state.get(self._key)
        if call is None or call.admission.key is None:
            return None
        elapsed = ctx.elapsed()
        if elapsed - call.polled < self.interaction.settings.exit_poll_seconds:
            return None
        call.polled = elapsed
        return call

    def _poll(self, ctx: CallContext, call: _Call) -> None:
        if self.interaction.exited_since(call.admission):
            ctx.notes["interaction_exit"] = "during-stream"
            raise self.interaction.exited_refusal(call.admission.session_id, "during-stream")

    # -- sync ---------------------------------------------------------------------------
    def before(self, ctx: CallContext) -> None:
        if self._gate(ctx):
            self._exit(ctx)
        adm = self._admit(ctx)
        self._show(ctx, self.interaction.notify(adm))

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        call = self._due_poll(ctx)
        if call is not None:
            self._poll(ctx, call)
        return (chunk,)

    def close(self, ctx: CallContext, outcome: Outcome) -> None:
        call: _Call | None = ctx.pop_state(self)
        if call is not None:  # in memory now; written with the next admission or flush
            self.interaction.release(call.admission, self._ended(ctx, call), wait=False)

    # -- async: store I/O off the loop, records through the ledger's async append ---------
    async def abefore(self, ctx: CallContext) -> None:
        consent_io = self.interaction.consent is not None and self._persona(ctx) is not None
        if consent_io:
            exit_now = await asyncio.to_thread(self._gate, ctx)
        else:
            exit_now = self._gate(ctx)
        if exit_now:  # rare: the store write and the exit record in a worker thread
            await asyncio.to_thread(self._exit, ctx)
        cached = self.interaction.admit_cached(  # no I/O when this process's copy is fresh
            ctx.subject, session_id=self._session(ctx), at=ctx.started_at,
            profiles=ctx.options.get("interaction_profiles")) if self.blocking else None
        if cached is not None:
            adm: Admission = cached
            ctx.state_for(self, lambda: _Call(cached))
        else:
            adm = (await asyncio.to_thread(self._admit, ctx) if self.blocking
                   else self._admit(ctx))
        self._show(ctx, await self.interaction.anotify(adm))

    async def aon_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        call = self._due_poll(ctx)  # pure: inline; the store read off the loop
        if call is not None:
            if self.blocking:
                await asyncio.to_thread(self._poll, ctx, call)
            else:
                self._poll(ctx, call)
        return (chunk,)

    async def aclose(self, ctx: CallContext, outcome: Outcome) -> None:
        self.close(ctx, outcome)  # no I/O: the call's end is deferred

    @property
    def _key(self) -> str:
        return f"{self.name}:{id(self)}"
