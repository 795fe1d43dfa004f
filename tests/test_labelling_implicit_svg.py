"""SVG (XMP in <metadata>) and HTML (<meta name="AIGC">) implicit labels (LM-5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels, sniff
from strategies_labelling import labels

LABEL = AIGCLabel(content_producer="Producer", produce_id="svg-1")
SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
       b'width="10" height="10"><rect width="5" height="5" fill="red"/></svg>\n')


def test_round_trip_keeps_document() -> None:
    """The label reads back, the SVG is still well-formed and the drawing is unchanged."""
    assert sniff(SVG) == "svg"
    out = label_bytes(SVG, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    root = ET.fromstring(out)
    rect = root.find("{http://www.w3.org/2000/svg}rect")
    assert rect is not None and rect.attrib["fill"] == "red"
    assert out.replace(out[out.index(b"<metadata"):out.index(b"</metadata>") + 11], b"") == SVG


def test_relabel_replaces() -> None:
    """Labelling again leaves one label, the newest."""
    new = LABEL.with_propagation("P", "2")
    out = label_bytes(label_bytes(SVG, LABEL), new)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [new]


def test_self_closing_svg_is_malformed() -> None:
    """An empty <svg/> cannot hold metadata."""
    with pytest.raises(MalformedMedia):
        label_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"/>', LABEL)


@given(labels)
def test_any_label_round_trips(label: AIGCLabel) -> None:
    """Any valid label round-trips through SVG."""
    out = label_bytes(SVG, label)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [label]


HTML = (b"<!DOCTYPE html>\n<html lang=\"zh\"><head><title>T</title></head><body>"
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg><p>x</p></body></html>\n")


def test_html_meta_round_trip() -> None:
    """HTML (even with inline SVG) gets one <meta name="AIGC"> in its head."""
    assert sniff(HTML) == "html"
    new = LABEL.with_propagation("P", "3")
    out = label_bytes(label_bytes(HTML, LABEL), new)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [new]
    assert out.count(b'name="AIGC"') == 1
    assert out.replace(out[out.index(b"<meta"):out.index(b"\">", out.index(b"<meta")) + 2],
                       b"") == HTML


def test_html_without_head_gets_one() -> None:
    """A document without <head> gets one after <html>."""
    out = label_bytes(b"<html><body>x</body></html>", LABEL)
    assert out.startswith(b"<html><head><meta name=\"AIGC\"")
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
