"""C2PA signing throughput (LM-5): signatures per second for a 1 MP JPEG in-process,
beside hashing the same file with hashlib SHA-256 (the floor: c2pa must hash it too)."""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _util import line, rate
from PIL import Image

from genai_compliance.crypto import SigningCredentials, create_test_ca
from genai_compliance.labelling.c2pa import read_c2pa, sign_bytes

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
