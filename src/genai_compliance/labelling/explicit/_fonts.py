"""Finding a CJK-capable font for drawn labels (GB-5.2, GB-5.4).

Order: an explicit path, the ``GENAI_COMPLIANCE_LABEL_FONT`` environment variable, fontconfig
(``fc-match -f '%{file}' ':lang=zh'``, then ``fc-list ':lang=zh' file``), then well-known
Debian paths. The font must render 人工智能生成 (checked by drawing it).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ...errors import LabelError

__all__ = ["find_cjk_font"]

_KNOWN = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
_PROBE = "人工智能生成"


def _draw(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    img = Image.new("L", (48, 48), 0)
    ImageDraw.Draw(img).text((4, 4), ch, font=font, fill=255)
    return img.tobytes() if img.getbbox() else b""


def _renders_cjk(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    # A font without the glyphs draws .notdef boxes that all look alike: compare two glyphs.
    try:
        a = _draw(font, "人")
        b = _draw(font, "智")
    except (OSError, ValueError):
        return False
    return bool(a) and a != b and font.getbbox(_PROBE)[2] > 0


def _fontconfig() -> list[str]:
    out: list[str] = []
    if shutil.which("fc-match"):
        try:
            res = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh"], capture_output=True,
                                 text=True, timeout=10, check=False)
            if res.stdout.strip():
                out.append(res.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    if shutil.which("fc-list"):
        try:
            res = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                                 timeout=10, check=False)
            files = sorted({line.split(":")[0].strip() for line in res.stdout.splitlines()
                            if line.strip()})
            # prefer sans regular faces
            files.sort(key=lambda f: (("Sans" not in f), ("Regular" not in f), f))
            out.extend(files)
        except (OSError, subprocess.SubprocessError):
            pass
    return out


@functools.lru_cache(maxsize=8)
def _find(path: str | None, env: str | None) -> str:
    if path is not None:
        if not Path(path).is_file() or not _renders_cjk(path):
            raise LabelError(
                "configured label font is missing or cannot render Chinese; point font_path at "
                "a CJK font such as NotoSansCJK-Regular.ttc (Debian: apt install fonts-noto-cjk)",
                field="font_path", value=path,
            )
        return path
    candidates = ([env] if env else []) + _fontconfig() + list(_KNOWN)
    for cand in candidates:
        if cand and Path(cand).is_file() and _renders_cjk(cand):
            return cand
    raise LabelError(
        "no CJK font found for the explicit label; install one (Debian: apt install "
        "fonts-noto-cjk; or pip install a font and pass font_path=/"
        "GENAI_COMPLIANCE_LABEL_FONT)",
        field="font_path", value=None, tried=[c for c in candidates if c],
    )


def find_cjk_font(path: str | os.PathLike[str] | None = None) -> str:
    """Path of a font that renders Chinese label text (GB-5.2); raises :class:`LabelError`
    naming the Debian package ``fonts-noto-cjk`` when none is found."""
    return _find(None if path is None else os.fspath(path),
                 os.environ.get("GENAI_COMPLIANCE_LABEL_FONT"))
