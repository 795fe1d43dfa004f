"""One entry point for every modality (LM-4, LM-4b; GB-5.1 … GB-5.4)."""

from __future__ import annotations

from typing import Any

from ...errors import UnsupportedMedia
from ...rules import implements
from ._audio import label_audio
from ._image import label_image
from ._sniff import sniff_modality
from ._text import label_text
from ._video import label_video

__all__ = ["apply_explicit"]


@implements("LM-4", "LM-4b", "DSP-17")
def apply_explicit(
    data: bytes,
    *,
    text: str | None = None,
    position: str | None = None,
    modality: str | None = None,
    **options: Any,
) -> bytes:
    """Add the explicit label for the content's modality, sniffed from ``data`` (LM-4, LM-4b).

    - text/Markdown (UTF-8): :func:`label_text`; ``position`` is the mode (prefix, suffix,
      both, inline; default prefix) — GB-5.1;
    - image: :func:`label_image`, same format out; ``position`` a corner/edge — GB-5.2;
    - audio: :func:`label_audio`; ``position`` start/end/middle — GB-5.3;
    - video: :func:`label_video`; ``position`` a corner — GB-5.4.

    ``text`` is the label wording (default 本内容由人工智能生成); other keyword ``options`` go to
    the modality's function (e.g. ``duration=`` for video, ``voice=True`` for audio).
    """
    kind = modality or sniff_modality(data)
    if kind == "image":
        return label_image(data, text=text, position=position, **options)
    if kind == "video":
        return label_video(data, text=text, position=position, **options)
    if kind == "audio":
        return label_audio(data, text=text, position=position, **options)
    if kind == "text":
        mode = position or "prefix"
        return label_text(data.decode("utf-8"), label=text, mode=mode,  # type: ignore[arg-type]
                          **options).encode("utf-8")
    raise UnsupportedMedia("cannot tell the content's modality (image, audio, video or UTF-8 "
                           "text); pass modality=", format="unknown", offset=0)
