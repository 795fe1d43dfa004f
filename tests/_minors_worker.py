"""Worker process for the minors replica test (not a test module).

usage: python _minors_worker.py REDIS_URI KEY_PREFIX USER START_AT LIMIT_MINUTES SEED

Waits until START_AT (epoch seconds), then makes guarded-style calls for USER (admit, work
5-30 ms, release with the measured duration) until the daily quota refuses, and prints one
JSON line: calls allowed, the sum and the longest of their durations.
"""

from __future__ import annotations

import json
import random
import sys
import time

from genai_compliance.errors import MinorQuotaExhausted
from genai_compliance.minors import MINOR_BANDS, MinorPolicy, MinorProtection
from genai_compliance.subject import Subject

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"


def main() -> None:
    uri, prefix, user = sys.argv[1], sys.argv[2], sys.argv[3]
    start_at, minutes, seed = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    rng = random.Random(seed)
    policy = MinorPolicy(daily_minutes={b: minutes for b in MINOR_BANDS}, curfew=None)
    prot = MinorProtection(key_secret=SECRET, policy=policy, store=uri, key_prefix=prefix,
                           replicas=8, guardian_consent=lambda s: True)
    kid = Subject(user, birth_date="2010-01-01")
    time.sleep(max(0.0, start_at - time.time()))
    allowed, total, longest = 0, 0.0, 0.0
    while True:
        try:
            adm = prot.admit(kid)
        except MinorQuotaExhausted:
            break
        assert adm is not None
        t0 = time.monotonic()
        time.sleep(rng.uniform(0.005, 0.03))
        duration = time.monotonic() - t0
        prot.release(adm, duration)
        allowed += 1
        total += duration
        longest = max(longest, duration)
    print(json.dumps({"allowed": allowed, "sum": total, "longest": longest}), flush=True)
    prot.store.close()


if __name__ == "__main__":
    main()
