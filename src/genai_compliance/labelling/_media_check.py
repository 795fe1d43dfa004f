"""``MediaLabelCheck``: label image, audio and video outputs of a guarded call in one pass.

A guarded function whose modality is ``image``, ``audio`` or ``video`` and that returns
``bytes``, a file path (``str`` or ``os.PathLike``) or a Pillow image gets, in this order:
the explicit label (LM-4, GB-5.2…5.4), the implicit GB 45438 metadata label (LM-5, written
into the container without re-encoding), and a C2PA manifest when signing credentials are
configured (EU AI Act Art. 50; signed after the implicit label so it covers it).

- ``bytes`` come back as labelled ``bytes``;
- a path is labelled in place (atomically replaced) and returned;
- a Pillow image comes back as labelled PNG ``bytes`` (a Pillow image object cannot carry
  the metadata label).

Any other result of a media call is refused with :class:`~genai_compliance.errors.LabelError`
(fail closed: never an unlabelled output). The call's record notes carry the ProduceID, the
SHA-256 of what was served and whether it was signed; ``ctx.response.content_ids`` the
ProduceID for the caller (``X-GenAI-Content-Id``).

.. versionadded:: 0.2
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checks import CallContext, Check
from ..errors import LabelError

__all__ = ["MediaLabelCheck"]

_MEDIA = ("image", "audio", "video")


if TYPE_CHECKING:
    from ..crypto import SigningCredentials
    from .explicit import ExplicitMediaLabelCheck


class MediaLabelCheck(Check):
    """Explicit + implicit (+ C2PA) labels on media outputs; see the module docstring."""

    name = "media_label"
    modalities: tuple[str, ...]
    rules = ("LM-4", "LM-5", "GB-5.2", "GB-5.3", "GB-5.4", "IM-12")
    #: rendering and file I/O: the async driver runs ``after`` in a worker thread
    blocking = True

    def __init__(self, producer_code: str, *, explicit: bool = True,
                 explicit_settings: Mapping[str, Any] | None = None,
                 credentials: SigningCredentials | None = None,
                 modalities: Sequence[str] = _MEDIA,
                 thumbnail: bool = False) -> None:
        from .aigc import validate_producer_code

        self.producer_code = validate_producer_code(producer_code)
        self.explicit = explicit
        self.credentials = credentials
        self.modalities = tuple(modalities)
        self.thumbnail = thumbnail
        self._explicit_check: ExplicitMediaLabelCheck | None = None
        if explicit:
            from .explicit import ExplicitMediaLabelCheck

            self._explicit_check = ExplicitMediaLabelCheck.from_settings(
                dict(explicit_settings or {}))

    # -- the label ---------------------------------------------------------------------
    def _label(self, data: bytes, ctx: CallContext) -> bytes:
        from .aigc import AIGCLabel
        from .implicit import label_bytes

        if self._explicit_check is not None:
            data = self._explicit_check.after(ctx, data)
        produce_id = uuid.uuid4().hex
        label = AIGCLabel(label="1", content_producer=self.producer_code,
                          produce_id=produce_id)
        data = label_bytes(data, label)
        signed = False
        if self.credentials is not None:
            from .c2pa import sign_bytes

            data, _manifest = sign_bytes(data, self.credentials, label=label,
                                         thumbnail=self.thumbnail)
            signed = True
        ctx.response.content_ids.append(produce_id)
        ctx.notes["implicit_label"] = {"produce_id": produce_id, "signed": signed,
                                       "sha256": hashlib.sha256(data).hexdigest()}
        return data

    def after(self, ctx: CallContext, result: Any) -> Any:
        if ctx.modality not in self.modalities:
            return result
        if isinstance(result, bytes | bytearray | memoryview):
            return self._label(bytes(result), ctx)
        if isinstance(result, str | os.PathLike):
            path = Path(result)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise LabelError(
                    f"the guarded {ctx.modality} function returned the path {str(path)!r}, "
                    f"which cannot be read ({exc.strerror}); return the file's bytes or an "
                    "existing path", field="result", path=str(path)) from exc
            labelled = self._label(data, ctx)
            from .c2pa import _atomic_write

            _atomic_write(path, labelled)
            return result
        save = getattr(result, "save", None)
        if callable(save) and hasattr(result, "mode") and hasattr(result, "size"):
            buf = io.BytesIO()
            save(buf, format="PNG")
            return self._label(buf.getvalue(), ctx)
        raise LabelError(
            f"a guarded {ctx.modality} function returned {type(result).__name__}; return bytes, "
            "a file path or a Pillow image so it can be labelled (LM-4, LM-5), or drop the "
            "media_label check explicitly", field="result", value=type(result).__name__)

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        if ctx.modality in self.modalities:
            raise LabelError(
                f"a streamed {ctx.modality} output cannot be labelled chunk by chunk; return "
                "the whole file (bytes or a path) from the guarded function",
                field="result", value=type(chunk).__name__)
        return (chunk,)
