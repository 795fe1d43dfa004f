"""C2PA signing throughput (LM-5; issues 16, 19): signatures per second for a 1 MP JPEG
in-process, beside hashing the same file with hashlib SHA-256 (the floor: c2pa must hash it
too); the reused offline context against a new context per signature (what the SDK did
before); and sign_file on 16/32/64 MiB MP4 and PNG files (streamed, file to file) beside
a plain file copy, medians of alternating runs."""

from __future__ import annotations

import hashlib
import io
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _util import big_png as _png
from _util import line, rate
from PIL import Image

from genai_compliance.crypto import SigningCredentials, create_test_ca
from genai_compliance.labelling import c2pa as c2pa_mod
from genai_compliance.labelling.c2pa import read_c2pa, sign_bytes, sign_file

LABEL = {"Label": "1", "ContentProducer": "0011BENCH", "ProduceID": "bench",
         "ReservedCode1": "", "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}


def main() -> None:
    """Print signatures/s (ES256 and Ed25519, thumbnail off/on) and verifications/s beside
    SHA-256 hashes/s of the same 1 MP JPEG."""
    img = Image.effect_noise((1000, 1000), 50).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    print(f"  1 MP JPEG: {len(jpeg):,} bytes")

    def hashing() -> int:
        for _ in range(50):
            hashlib.sha256(jpeg).digest()
        return 50

    floor = rate(hashing)
    line("hashlib SHA-256 of the file (floor)", floor, floor)
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ("es256", "ed25519"):
            ca = create_test_ca(Path(tmp) / alg, algorithm=alg)
            creds = SigningCredentials.from_pem(ca.chain, ca.key)
            for thumb in (False, True):
                def signing(c: SigningCredentials = creds, t: bool = thumb) -> int:
                    for _ in range(10):
                        sign_bytes(jpeg, c, label=LABEL, thumbnail=t)
                    return 10

                line(f"c2pa sign {alg}, thumbnail {'on' if thumb else 'off'}",
                     rate(signing), floor)
        signed, _ = sign_bytes(jpeg, creds, label=LABEL)

        def verifying() -> int:
            for _ in range(10):
                read_c2pa(signed, trust_anchors=ca.trust_anchors)
            return 10

        line("c2pa read + verify (trusted)", rate(verifying), floor)

        def fresh_context() -> int:
            # a new Context per signature: drop the per-thread cache before each one
            for _ in range(10):
                c2pa_mod._CONTEXTS.cache = {}
                sign_bytes(jpeg, creds, label=LABEL)
            return 10

        def reused_context() -> int:
            for _ in range(10):
                sign_bytes(jpeg, creds, label=LABEL)
            return 10

        new_rate = rate(fresh_context, 5)
        line("c2pa sign, new context per signature", new_rate, floor)
        line("c2pa sign, one reused offline context (vs new per signature)",
             rate(reused_context, 5), new_rate)
        _files(Path(tmp), creds)


def _mp4_maker(tmp: Path) -> object:
    if shutil.which("ffmpeg") is None:
        return None
    clip = tmp / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=0.5:size=64x48:rate=10", "-c:v", "mpeg4", str(clip)],
                   check=True)
    base = clip.read_bytes()

    def make(path: Path, size: int) -> None:
        with path.open("wb") as f:
            f.write(base + struct.pack(">I4s", size - len(base), b"free"))
            f.write(bytes(size - len(base) - 8))

    return make


def _files(tmp: Path, creds: SigningCredentials) -> None:
    """sign_file at 1x/2x/4x beside a copy (streamed: c2pa reads and writes the files)."""
    makers = {"png": _png, "mp4": _mp4_maker(tmp)}
    print(f"\n  {'format':<6} {'size':>7} {'sign s':>9} {'copy s':>9} {'sign/copy':>10} "
          f"{'time vs 1x':>11}   (sign_file, medians of 5 alternating runs)")
    for name, make in makers.items():
        if make is None:
            print(f"  {name:<6} skipped (ffmpeg is not installed)")
            continue
        first = None
        for factor in (1, 2, 4):
            src = tmp / f"in.{name}"
            make(src, (16 << 20) * factor)  # type: ignore[operator]
            signs, copies = [], []
            for _ in range(5):
                start = time.perf_counter()
                shutil.copyfile(src, tmp / "copy")
                copies.append(time.perf_counter() - start)
                start = time.perf_counter()
                sign_file(src, tmp / f"out.{name}", creds, label=LABEL)
                signs.append(time.perf_counter() - start)
            took, copy = statistics.median(signs), statistics.median(copies)
            first = first or took
            print(f"  {name:<6} {src.stat().st_size / 1e6:>6.1f}M {took:>9.4f} {copy:>9.4f} "
                  f"{took / copy:>10.2f} {took / first:>11.2f}")


if __name__ == "__main__":
    main()
