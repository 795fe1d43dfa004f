"""Worker process for the ledger concurrency and crash tests (not a test module).

usage: python _ledger_worker.py URI COUNT [BATCH [THREADS]]
(COUNT 0 = forever, printing each acknowledged seq; THREADS > 1 appends COUNT records from
each of that many threads at once, through the ledger's group commit)
"""

from __future__ import annotations

import os
import sys
import threading

from genai_compliance import Ledger
from genai_compliance.ledger import Entry


def main() -> None:
    uri, count = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    ledger = Ledger(uri, checkpoint_every=250)
    pid = os.getpid()
    lock = threading.Lock()

    def work(t: int) -> None:
        i = 0
        while count == 0 or i < count:
            records = ledger.append_many(
                [Entry("worker.append", {"pid": pid, "t": t, "i": i + k}) for k in range(batch)])
            i += batch
            if count == 0:
                with lock:
                    print(records[-1].seq, flush=True)

    if threads == 1:
        work(0)
    else:
        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    ledger.close()


if __name__ == "__main__":
    main()
