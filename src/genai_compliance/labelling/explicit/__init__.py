"""Explicit (perceivable) AI-generated labels for text, images, audio and video.

Labeling Measures Art. 4 (LM-4, LM-4b) and GB 45438-2025 §5.1–5.4 and §6 (GB-5.1, GB-5.2,
GB-5.3, GB-5.4, GB-6). See docs/explicit-labels.md.
"""

from __future__ import annotations

from ..._exports import publish as _publish
from ._apply import apply_explicit
from ._audio import CueTiming, EspeakTTS, TTSFunction, label_audio, rhythm_cue
from ._checks import ExplicitMediaLabelCheck, ExplicitTextLabelCheck
from ._fonts import find_cjk_font
from ._image import POSITIONS, LabelOverlay, label_image, make_overlay
from ._sniff import sniff_modality
from ._text import (
    DEFAULT_LABEL_EN,
    DEFAULT_LABEL_ZH,
    LABEL_HEADER,
    TextLabeller,
    default_label,
    label_header_value,
    label_text,
    validate_label_text,
)
from ._video import label_video

__all__ = [
    "DEFAULT_LABEL_EN",
    "DEFAULT_LABEL_ZH",
    "LABEL_HEADER",
    "POSITIONS",
    "CueTiming",
    "EspeakTTS",
    "ExplicitMediaLabelCheck",
    "ExplicitTextLabelCheck",
    "LabelOverlay",
    "TTSFunction",
    "TextLabeller",
    "apply_explicit",
    "default_label",
    "find_cjk_font",
    "label_audio",
    "label_header_value",
    "label_image",
    "label_text",
    "label_video",
    "make_overlay",
    "rhythm_cue",
    "sniff_modality",
    "validate_label_text",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or (callable(_obj) and hasattr(_obj, "__module__")):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
del _name, _obj

_publish(__name__, globals(), __all__)
