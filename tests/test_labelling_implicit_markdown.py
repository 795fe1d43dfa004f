"""Markdown implicit label: ``AIGC:`` in the YAML front matter (LM-5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels, sniff
from strategies_labelling import labels

LABEL = AIGCLabel(content_producer="Producer", produce_id="md-1")


def test_new_front_matter_added() -> None:
    """A Markdown file without front matter, labelled with format="markdown", gets one with
    the AIGC key; body unchanged."""
    src = "# Title\n\nBody text 中文.\n".encode()
    out = label_bytes(src, LABEL, format="markdown")
    assert out.startswith(b"---\nAIGC: '")
    assert out.endswith(src)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]


def test_existing_front_matter_kept_and_label_replaced() -> None:
    """Other keys stay; an old AIGC (scalar or block mapping) is replaced by one new key."""
    src = (b"---\ntitle: Hello\nAIGC:\n  Label: '2'\n  ContentProducer: X\n  ProduceID: Y\n"
           b"tags: [a, b]\n---\nBody\n")
    assert sniff(src) == "markdown"
    old = read_labels(src)
    assert AIGCLabel.from_json(old[0].text) == AIGCLabel(label="2", content_producer="X",
                                                         produce_id="Y")
    out = label_bytes(src, LABEL)
    text = out.decode()
    assert "title: Hello\n" in text and "tags: [a, b]\n" in text and text.endswith("---\nBody\n")
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    assert label_bytes(out, LABEL) == out


def test_crlf_preserved() -> None:
    """CRLF files stay CRLF."""
    out = label_bytes(b"---\r\ntitle: x\r\n---\r\nBody\r\n", LABEL)
    assert b"\r\nAIGC: '" in out and b"\n" not in out.replace(b"\r\n", b"")


def test_plain_text_is_not_claimed() -> None:
    """Text that is neither front matter nor a heading is unsupported, not Markdown."""
    with pytest.raises(UnsupportedMedia):
        sniff(b"just some words")


def test_invalid_utf8_is_malformed() -> None:
    """Invalid UTF-8 beyond the sniffed head is MalformedMedia; within it, unsupported."""
    with pytest.raises(MalformedMedia):
        read_labels(b"---\nt: x\n---\n" + b"a" * 5000 + b"\xff")
    with pytest.raises(UnsupportedMedia):
        read_labels(b"---\n\xff\xfe more")


def test_heading_only_text_is_not_claimed_without_format() -> None:
    """A heading-only file is not sniffed as Markdown (issue 16: a PEM bundle starting with
    '# ' comments was); the error names --format."""
    with pytest.raises(UnsupportedMedia, match="--format markdown"):
        label_bytes(b"# Title\n\nBody\n", LABEL)


@pytest.mark.parametrize(("data", "kind"), [
    (b"# FOR TESTS ONLY\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
     "PEM"),
    (b'{"a": 1}\n', "JSON"),
    (b"a,b,c\n1,2,3\n", "CSV"),
])
def test_pem_json_csv_are_refused_naming_format(data: bytes, kind: str) -> None:
    """PEM, JSON and CSV are refused with a message naming the kind and --format."""
    with pytest.raises(UnsupportedMedia, match=f"looks like {kind}.*--format") as info:
        label_bytes(data, LABEL)
    assert info.value.evidence["kind"] == kind


@given(labels, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                     max_size=200))  # a file body is UTF-8 text: no lone surrogates
def test_any_label_and_body_round_trip(label: AIGCLabel, body: str) -> None:
    """Any label in front of any body reads back; the body is kept."""
    src = ("# H\n" + body).encode()
    out = label_bytes(src, label, format="markdown")
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [label]
    assert out.endswith(src)
