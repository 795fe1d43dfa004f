"""Worker process for the ledger concurrency and crash tests (not a test module).

usage: python _ledger_worker.py URI COUNT [BATCH]   (COUNT 0 = forever, printing each seq)
"""

from __future__ import annotations

import os
import sys

from genai_compliance import Ledger
from genai_compliance.ledger import Entry


def main() -> None:
    uri, count = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    ledger = Ledger(uri, checkpoint_every=250)
    pid = os.getpid()
    i = 0
    while count == 0 or i < count:
        records = ledger.append_many(
            [Entry("worker.append", {"pid": pid, "i": i + k}) for k in range(batch)])
        i += batch
        if count == 0:
            print(records[-1].seq, flush=True)
    ledger.close()


if __name__ == "__main__":
    main()
