"""The breach workflow as a pure, typed state machine (PI-57, PI-57-EXEMPT): no I/O, no clock.

Steps, each taken at most once::

    open ─► remediate ─┬─► notify_authority ────────────────────────────┐
                       ├─► notify_individuals ──────────────────────────┤
                       └─► exempt_individuals ─► authority_requires_notice ─► notify_individuals
                                                                         └─► close

* ``remediate`` comes first: Art. 57 asks for remedial measures at once, and both notices
  must state the measures taken.
* ``notify_individuals`` and ``exempt_individuals`` exclude each other, unless the authority
  requires the notice after an exemption (Art. 57 ¶2): then the individuals must be notified.
* ``close`` needs the authority notified and the individuals notified or (still) exempt.

:func:`apply` refuses any other order with :class:`StepOutOfOrder`, naming the steps that
are possible now.
"""

from __future__ import annotations

from typing import Literal

import attrs

from ..errors import ConfigurationError, StepOutOfOrder

__all__ = ["STEPS", "BreachState", "Step", "StepOutOfOrder", "allowed", "apply"]

Step = Literal["open", "remediate", "notify_authority", "notify_individuals",
               "exempt_individuals", "authority_requires_notice", "close"]

#: every step of the workflow, in the order a typical breach takes them
STEPS: tuple[Step, ...] = ("open", "remediate", "notify_authority", "notify_individuals",
                           "exempt_individuals", "authority_requires_notice", "close")




@attrs.frozen
class BreachState:
    """The steps taken so far, in order."""

    done: tuple[Step, ...] = ()

    def has(self, step: Step) -> bool:
        return step in self.done

    @property
    def closed(self) -> bool:
        return "close" in self.done

    @property
    def individuals(self) -> str:
        """``pending`` / ``notified`` / ``exempt`` / ``required`` (exempted, then the
        authority required the notice)."""
        if self.has("notify_individuals"):
            return "notified"
        if self.has("authority_requires_notice"):
            return "required"
        if self.has("exempt_individuals"):
            return "exempt"
        return "pending"


def allowed(state: BreachState) -> frozenset[Step]:
    """The steps possible in ``state``."""
    if not state.done:
        return frozenset({"open"})
    if state.closed:
        return frozenset()
    if not state.has("remediate"):
        return frozenset({"remediate"})
    out: set[Step] = set()
    if not state.has("notify_authority"):
        out.add("notify_authority")
    people = state.individuals
    if people in ("pending", "required"):
        out.add("notify_individuals")
    if people == "pending":
        out.add("exempt_individuals")
    if people == "exempt":
        out.add("authority_requires_notice")
    if state.has("notify_authority") and people in ("notified", "exempt"):
        out.add("close")
    return frozenset(out)


_HINT: dict[str, str] = {
    "open": "the breach is open already",
    "remediate": "record the remedial measures right after opening the breach (once)",
    "notify_authority": "remediate first; the authority is notified once",
    "notify_individuals": "remediate first; individuals are notified once, and not after an "
                          "exemption unless the authority required the notice",
    "exempt_individuals": "remediate first; an exemption is possible only before individuals "
                          "were notified",
    "authority_requires_notice": "only after an exemption of the individual notice",
    "close": "notify the authority, and notify the individuals (or record the exemption)",
}


def apply(state: BreachState, step: Step, *, breach: str | None = None) -> BreachState:
    """The state after ``step``, or :class:`StepOutOfOrder` when it is not possible now."""
    if step not in STEPS:
        raise ConfigurationError(f"unknown breach step {step!r}; steps: {', '.join(STEPS)}",
                                 field="step", value=step)
    possible = allowed(state)
    if step not in possible:
        where = f"breach {breach}: " if breach else ""
        now = ", ".join(s for s in STEPS if s in possible) or "none (the breach is closed)"
        raise StepOutOfOrder(
            f"{where}step {step!r} is not possible now ({_HINT[step]}); steps taken: "
            f"{', '.join(state.done) or 'none'}; possible now: {now}",
            step=step, done=state.done,
            allowed=tuple(s for s in STEPS if s in possible), breach=breach)
    return BreachState((*state.done, step))
