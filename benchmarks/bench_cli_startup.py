"""How fast the command line starts: ``label`` and ``inspect`` on a 64x64 PNG, beside
exiftool reading the same file and a bare ``python -c pass``, in the same run.

Issue 14 asks for under 0.15 s for both; ``python -X importtime -m genai_compliance
inspect FILE`` shows where the rest goes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

PRODUCER = "001191440300708461136T1TST1"


def _best(cmd: list[str], runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "small.png", Path(tmp) / "out.png"
        Image.new("RGB", (64, 64), (20, 120, 200)).save(src)
        py = _best([sys.executable, "-c", "pass"])
        label = _best([sys.executable, "-m", "genai_compliance", "label", str(src), "-o",
                       str(dst), "--producer", PRODUCER, "--produce-id", "bench"])
        inspect = _best([sys.executable, "-m", "genai_compliance", "inspect", str(dst)])
        print("command start-up on a 64x64 PNG (best of 7, seconds):")
        print(f"  {'python -c pass':<40} {py:8.3f}")
        print(f"  {'genai-compliance label':<40} {label:8.3f}   target < 0.150")
        print(f"  {'genai-compliance inspect':<40} {inspect:8.3f}   target < 0.150")
        if shutil.which("exiftool"):
            exif = _best(["exiftool", str(dst)])
            print(f"  {'exiftool FILE':<40} {exif:8.3f}   inspect/exiftool "
                  f"{inspect / exif:6.2f}x")


if __name__ == "__main__":
    main()
