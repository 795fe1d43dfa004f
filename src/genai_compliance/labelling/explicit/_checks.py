"""Guard checks that add explicit labels to outputs (LM-4, GB-5.1 … GB-5.4, GB-6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...checks import CallContext, Check, omit_explicit_label
from ...schemas import validate
from ._apply import apply_explicit
from ._text import (
    DEFAULT_LABEL_ZH,
    TextLabeller,
    TextMode,
    label_text,
    validate_label_text,
)

if TYPE_CHECKING:
    from ...context import DutyContext

__all__ = ["ExplicitMediaLabelCheck", "ExplicitTextLabelCheck"]


def _section(ctx: DutyContext) -> dict[str, Any]:
    """``[labelling.explicit]`` without its ``enabled`` switch (the pipeline reads that)."""
    section = dict(ctx.section("labelling.explicit"))
    section.pop("enabled", None)
    return section


class ExplicitTextLabelCheck(Check):
    """Label text outputs (GB-5.1, LM-4) and expose the label for chat UIs (GB-6).

    Non-streamed ``str`` results get :func:`label_text`; streams get the label as the first
    chunk (prefix) and/or the last (suffix, at stream end), in the shape of the stream's own
    chunks (``str``, ``bytes``, OpenAI-style deltas: through the call's chunk codec).
    ``ctx.response.label`` holds the label (the ``X-GenAI-Label`` header in ASGI); the call's
    ledger notes record ``explicit_label`` (mode and text). Only calls whose modality is
    "text" (or ``modalities``) are labelled.

    .. versionchanged:: 0.2
       Per-call state on the context; chunks of any shape; the label in ``ctx.response``.
    """

    name = "explicit_text_label"
    modalities: tuple[str, ...]
    rules = ("GB-5.1", "GB-6", "LM-4")

    def __init__(self, label: str = DEFAULT_LABEL_ZH, mode: TextMode = "prefix",
                 separator: str = "\n\n", modalities: Sequence[str] = ("text",)) -> None:
        self.label = validate_label_text(label)
        self.mode: TextMode = mode
        self.separator = separator
        self.modalities = tuple(modalities)
        # validates the mode for streams (inline cannot stream)
        self._stream_mode: TextMode = mode if mode != "inline" else "suffix"
        TextLabeller(self.label, self._stream_mode, separator)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ExplicitTextLabelCheck:
        """Build from a ``[labelling.explicit]`` mapping: text, mode, separator."""
        validate(dict(settings), "explicit-labels", what="[labelling.explicit]")
        return cls(label=settings.get("text", DEFAULT_LABEL_ZH),
                   mode=settings.get("mode", "prefix"),
                   separator=settings.get("separator", "\n\n"))

    @classmethod
    def from_context(cls, ctx: DutyContext) -> ExplicitTextLabelCheck:
        """Build from ``[labelling.explicit]``."""
        return cls.from_settings(_section(ctx))

    def _applies(self, ctx: CallContext) -> bool:
        """Label this call: its modality is labelled and the user did not receive the right
        to unlabelled output (LM-9, :func:`~genai_compliance.checks.unlabelled_output`)."""
        return ctx.modality in self.modalities and not omit_explicit_label(ctx)

    def _note(self, ctx: CallContext, mode: str) -> None:
        ctx.metadata["ai_label"] = self.label
        ctx.response.label = self.label
        ctx.notes["explicit_label"] = {"mode": mode, "text": self.label}

    def _labeller(self) -> TextLabeller:
        return TextLabeller(self.label, self._stream_mode, self.separator)

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        if not self._applies(ctx):
            return (chunk,)
        text = ctx.text_of(chunk, self)
        state: dict[str, Any] = ctx.state_for(self, dict)
        state["template"] = chunk
        out: list[Any] = []
        labeller: TextLabeller | None = state.get("labeller")
        if labeller is None:
            labeller = state["labeller"] = self._labeller()
            self._note(ctx, self._stream_mode)
            first = labeller.start()
            if first:
                out.append(ctx.codec.replace(chunk, first))
        if text:
            labeller.feed(text)
        out.append(chunk)
        return out

    def on_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        if not self._applies(ctx):
            return ()
        state: dict[str, Any] | None = ctx.pop_state(self)
        labeller = None if state is None else state.get("labeller")
        template = ctx.last_chunk if state is None else state.get("template")
        if labeller is None:  # nothing reached this check (empty, or all held): still label
            labeller = self._labeller()
            self._note(ctx, self._stream_mode)
            first = labeller.start()
            last = labeller.end()
            return tuple(x if template is None else ctx.codec.replace(template, x)
                         for x in (first, last) if x)
        if template is None:
            template = ""
        last = labeller.end()
        return (ctx.codec.replace(template, last),) if last else ()

    def after(self, ctx: CallContext, result: Any) -> Any:
        if not self._applies(ctx):
            return result
        if isinstance(result, str):
            self._note(ctx, self.mode)
            return label_text(result, label=self.label, mode=self.mode, separator=self.separator)
        self._note(ctx, "metadata")
        return result


class ExplicitMediaLabelCheck(Check):
    """Label image, audio and video ``bytes`` results (GB-5.2, GB-5.3, GB-5.4, LM-4, LM-4b)
    with :func:`apply_explicit`; the call's notes record ``explicit_label``."""

    name = "explicit_media_label"
    modalities: tuple[str, ...]
    rules = ("GB-5.2", "GB-5.3", "GB-5.4", "LM-4", "LM-4b")
    #: rendering is heavy: the async driver runs ``after`` in a worker thread
    blocking = True

    def __init__(self, label: str = DEFAULT_LABEL_ZH, position: str | None = None,
                 modalities: Sequence[str] = ("image", "audio", "video"), *,
                 image: Mapping[str, Any] | None = None, audio: Mapping[str, Any] | None = None,
                 video: Mapping[str, Any] | None = None) -> None:
        self.label = validate_label_text(label)
        self.position = position
        self.modalities = tuple(modalities)
        #: per-modality keyword options for apply_explicit (e.g. video={"duration": None})
        self.options: dict[str, dict[str, Any]] = {
            "image": dict(image or {}), "audio": dict(audio or {}), "video": dict(video or {})}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ExplicitMediaLabelCheck:
        """Build from a ``[labelling.explicit]`` mapping (text, position, font_path, ...)."""
        validate(dict(settings), "explicit-labels", what="[labelling.explicit]")
        return cls(label=settings.get("text", DEFAULT_LABEL_ZH),
                   position=settings.get("position"),
                   image={k: settings[k] for k in ("font_path", "height_fraction")
                          if k in settings},
                   video={"duration": settings.get("video_duration", 2.2),
                          **{k: settings[k] for k in ("font_path", "height_fraction")
                             if k in settings}},
                   audio={"position": settings.get("audio_position", "start"),
                          "cue": settings.get("audio_cue", True),
                          "voice": settings.get("audio_voice", False)})

    @classmethod
    def from_context(cls, ctx: DutyContext) -> ExplicitMediaLabelCheck:
        """Build from ``[labelling.explicit]``."""
        return cls.from_settings(_section(ctx))

    def after(self, ctx: CallContext, result: Any) -> Any:
        if ctx.modality not in self.modalities or not isinstance(result, (bytes, bytearray)):
            return result
        if omit_explicit_label(ctx):  # LM-9: on request, with a grant; implicit labels stay
            return result
        opts = dict(self.options.get(ctx.modality, {}))
        position = opts.pop("position", None) if ctx.modality == "audio" else self.position
        out = apply_explicit(bytes(result), text=self.label, position=position,
                             modality=ctx.modality, **opts)
        ctx.metadata["ai_label"] = self.label
        ctx.response.label = self.label
        ctx.notes["explicit_label"] = {"modality": ctx.modality, "text": self.label,
                                       "position": self.position}
        return out
