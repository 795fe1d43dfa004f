"""Illegal-use ladder (IM-14b, SR-14): cost of the guard's standing check and of counting an
input on each state store, beside the pure transition function (the floor) in the same run."""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import uuid
from pathlib import Path

from _util import line, rate

from genai_compliance import FrozenClock, Ledger, Subject
from genai_compliance.incidents import (
    Escalation,
    EscalationPolicy,
    Standing,
    WorkingCalendar,
)
from genai_compliance.incidents._escalation import transition  # the pure ladder step

N = 2000


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-incidents-"))
    ledger = Ledger(f"sqlite:///{folder / 'ledger.db'}", durability="process")
    clock = FrozenClock("2026-03-02T02:00:00+00:00")
    policy = EscalationPolicy()
    now = clock.now()

    def pure() -> int:
        s = Standing()
        for i in range(N):
            s, _ = transition(s, "clean" if i % 2 else "illegal", now=now, policy=policy)
            s = Standing() if s.level != "none" else s
        return N

    floor = rate(pure)
    print("transition() alone (the floor):")
    line("illegal/clean transitions", floor, floor)

    stores = {"memory://": "memory://", "sqlite": f"sqlite:///{folder / 'state.db'}"}
    if _redis_up():
        stores["redis"] = "redis://127.0.0.1:6379/0"
    prefix = "bench-" + uuid.uuid4().hex[:8] + ":"
    users = [Subject(f"u{i}") for i in range(200)]
    for u in users:
        ledger.pseudonym(u)  # warm the pseudonym cache: the bench measures the ladder
    print("standing() — what IllegalUseCheck.before reads on every call:")
    for name, uri in stores.items():
        esc = Escalation(uri, ledger, policy=policy, clock=clock, key_prefix=prefix)

        def read(esc: Escalation = esc) -> int:
            for i in range(N):
                esc.standing(users[i % len(users)])
            return N

        line(f"{name} standing reads", rate(read), floor)
        esc.close()
    print("register_input(illegal=False) on a clean subject (no write):")
    for name, uri in stores.items():
        esc = Escalation(uri, ledger, policy=policy, clock=clock, key_prefix=prefix + "c")

        def clean(esc: Escalation = esc) -> int:
            for i in range(N):
                esc.register_input(users[i % len(users)], illegal=False)
            return N

        line(f"{name} clean inputs", rate(clean), floor)
        esc.close()
    print("register_input(illegal=True) — atomic update + ledger record(s):")
    for name, uri in stores.items():
        lax = EscalationPolicy(warn_after=10**6, limit_after=10**6, suspend_consecutive=10**6,
                               suspend_daily=10**6)
        esc = Escalation(uri, ledger, policy=lax, clock=clock, key_prefix=prefix + "i")

        def illegal(esc: Escalation = esc) -> int:
            for i in range(200):
                esc.register_input(users[i % len(users)], illegal=True)
            return 200

        line(f"{name} illegal inputs", rate(illegal, repeat=2), floor)
        esc.close()
    cal = WorkingCalendar()
    start = dt.date(2026, 1, 5)

    def deadlines() -> int:
        for i in range(N):
            cal.add(start + dt.timedelta(days=i % 300), 15)
        return N

    print("complaint deadlines (15 working days):")
    line("WorkingCalendar.add(d, 15)", rate(deadlines), floor)
    ledger.close()
    if "redis" in stores:  # leave the shared Redis as it was
        from genai_compliance.stores import RedisStore

        store = RedisStore(stores["redis"])
        for key in list(store.client.scan_iter(match=f"gc:escalation:{prefix}*")):
            store.client.delete(key)
        store.close()


if __name__ == "__main__":
    main()
