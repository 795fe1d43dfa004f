"""Explicit labels (GB-5.2): images labelled per second at 512x512 and 2048x2048 beside a bare
Pillow open+save of the same images in the same run; text labelling beside str concatenation."""

from __future__ import annotations

import io

import numpy as np
from _util import line, rate
from PIL import Image

from genai_compliance.labelling.explicit import TextLabeller, label_image, label_text


def _photo(size: int, fmt: str) -> bytes:
    rng = np.random.default_rng(size)
    base = np.linspace(0, 255, size, dtype=np.float64)
    arr = (base[None, :, None] * 0.6 + rng.integers(0, 100, (size, size, 3))).clip(0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, fmt, **({"quality": 90} if fmt == "JPEG"
                                                            else {}))
    return buf.getvalue()


def _open_save(data: bytes, fmt: str) -> None:
    img = Image.open(io.BytesIO(data))
    img.load()
    img.save(io.BytesIO(), fmt)


def main() -> None:
    label_image(_photo(64, "PNG"))  # warm the font lookup
    for size, n in ((512, 20), (2048, 3)):
        for fmt in ("JPEG", "PNG"):
            data = _photo(size, fmt)

            def bare(data: bytes = data, fmt: str = fmt, n: int = n) -> int:
                for _ in range(n):
                    _open_save(data, fmt)
                return n

            def labelled(data: bytes = data, n: int = n) -> int:
                for _ in range(n):
                    label_image(data)
                return n

            base = rate(bare, repeat=2)
            line(f"label_image {size}x{size} {fmt} (baseline Pillow open+save)",
                 rate(labelled, repeat=2), base, "img/s")
    text = "这是一段模型输出。" * 200

    def concat() -> int:
        for _ in range(2000):
            _ = "本内容由人工智能生成\n\n" + text
        return 2000

    def prefix() -> int:
        for _ in range(2000):
            label_text(text)
        return 2000

    line("label_text prefix 1.8k chars (baseline str concat)", rate(prefix), rate(concat),
         "ops/s")
    chunks = [text[i:i + 7] for i in range(0, len(text), 7)]

    def passthrough() -> int:
        return len(list(chunks))

    def streamed() -> int:
        return len(list(TextLabeller(mode="both").stream(chunks)))

    line("TextLabeller both, 7-char chunks (baseline list of chunks)", rate(streamed),
         rate(passthrough), "chunks")


if __name__ == "__main__":
    main()
