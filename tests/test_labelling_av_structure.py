"""Container structure after labelling (LM-5, TC260 PG-20257A/202510A): offsets, page numbers,
CRCs, kept metadata, ID3 variants, no-room fallbacks, a 2 GB MP4 in bounded memory."""

from __future__ import annotations

import functools
import io
import json
import shutil
import struct
import subprocess
import tempfile
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest

from genai_compliance.errors import UnsupportedMedia
from genai_compliance.labelling.implicit import _avi, _flac, _mkv, _mp3, _mp4, _ogg, _wav
from genai_compliance.labelling.implicit._ebml import children, level1, read_element_header
from genai_compliance.labelling.implicit._isobmff import parse_tree, top_boxes
from genai_compliance.labelling.implicit._riff import riff_chunks

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

LABEL = '{"Label":"1","ContentProducer":"001191100000000000000000X10001","ProduceID":"p-1"}'
A = ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.4"]
V = ["-f", "lavfi", "-i", "testsrc=duration=0.6:size=64x48:rate=10"]


@functools.cache
def _dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="av-struct-"))


@functools.cache
def gen(name: str, *args: str) -> bytes:
    """An ffmpeg-made file (cached for the session)."""
    path = _dir() / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", *args, str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


def write(handler: Any, data: bytes, text: str = LABEL) -> bytes:
    """Label in memory."""
    dst = io.BytesIO()
    handler.write(io.BytesIO(data), dst, text)
    return dst.getvalue()


def texts(handler: Any, data: bytes) -> list[str]:
    """Labels our reader finds."""
    return [r.text for r in handler.read(io.BytesIO(data))]


def probe(
    data: bytes, suffix: str, tmp_path: Path, streams: str = "0", clean: bool = True
) -> tuple[dict[str, str], str]:
    """(ffprobe format tags, frame hash lines) of ``data``; ``clean``: ffmpeg (with CRC
    checks on) must log no error."""
    path = tmp_path / f"p{len(list(tmp_path.iterdir()))}{suffix}"
    path.write_bytes(data)
    doc = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-err_detect", "crccheck", "-i", str(path), "-map", streams,
         "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert out.stderr == "" or not clean, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if not ln.startswith("#")]
    return doc["format"].get("tags", {}), "\n".join(lines)


# --- MP4 -----------------------------------------------------------------------------------


def _stco(data: bytes) -> list[int]:
    moov = next(b for b in top_boxes(io.BytesIO(data)) if b.btype == b"moov")
    tree = parse_tree(data[moov.offset : moov.end], moov.offset)[0]
    out: list[int] = []
    stack = [tree]
    while stack:
        b = stack.pop()
        stack += b.children
        if b.btype in (b"stco", b"co64") and b.raw is not None:
            p = b.payload()
            n = struct.unpack_from(">I", p, 4)[0]
            out += struct.unpack_from(f">{n}{'I' if b.btype == b'stco' else 'Q'}", p, 8)
    return sorted(out)


def test_mp4_faststart_offsets_shift_by_moov_growth() -> None:
    """PG-20257A: moov before mdat grows; every stco entry moves by exactly the growth."""
    src = gen("fast.mp4", *V, "-c:v", "libx264", "-movflags", "+faststart")
    out = write(_mp4.HANDLER, src)
    growth = len(out) - len(src)
    assert growth > 0
    assert _stco(out) == [v + growth for v in _stco(src)]
    mdat_src = next(b for b in top_boxes(io.BytesIO(src)) if b.btype == b"mdat")
    mdat_out = next(b for b in top_boxes(io.BytesIO(out)) if b.btype == b"mdat")
    assert out[mdat_out.offset : mdat_out.end] == src[mdat_src.offset : mdat_src.end]


def test_mp4_shrinking_label_leaves_free_box_and_offsets() -> None:
    """A shorter label is padded with a free box, so nothing after moov moves."""
    src = gen("fast.mp4", *V, "-c:v", "libx264", "-movflags", "+faststart")
    big = write(_mp4.HANDLER, src, LABEL + " " * 200)
    small = write(_mp4.HANDLER, big, LABEL)
    assert len(small) == len(big)
    assert _stco(small) == _stco(big)
    assert b"free" in [b.btype for b in top_boxes(io.BytesIO(small))]
    assert texts(_mp4.HANDLER, small) == [LABEL]


def test_fragmented_mp4_tfhd_and_tfra_point_at_moofs() -> None:
    """fMP4: explicit tfhd base-data-offsets and mfra/tfra moof offsets follow the shift."""
    src = gen(
        "frag.mp4", *V, "-c:v", "libx264", "-movflags", "frag_keyframe+empty_moov",
        "-frag_duration", "200000",
    )  # fmt: skip
    out = write(_mp4.HANDLER, src)
    tops = top_boxes(io.BytesIO(out))
    moofs = {b.offset for b in tops if b.btype == b"moof"}
    assert len(moofs) >= 2
    bases, tfra = set(), set()
    for b in tops:
        if b.btype == b"moof":
            for traf in parse_tree(out[b.offset + 8 : b.end], b.offset + 8):
                for c in parse_tree(traf.payload(), 0):
                    p = c.payload()
                    if c.btype == b"tfhd" and int.from_bytes(p[1:4], "big") & 1:
                        bases.add(struct.unpack_from(">Q", p, 8)[0])
        if b.btype == b"mfra":
            for c in parse_tree(out[b.offset + 8 : b.end], 0):
                if c.btype == b"tfra":
                    p = c.payload()
                    w = 8 if p[0] == 1 else 4
                    n = struct.unpack_from(">I", p, 12)[0]
                    entry = 2 * w + 3
                    for i in range(n):
                        at = 16 + i * entry + w
                        tfra.add(int.from_bytes(p[at : at + w], "big"))
    assert bases and bases <= moofs
    assert tfra and tfra <= moofs


def _tiny_mp4(chunk_offset: int) -> bytes:
    def box(t: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), t) + body

    stco = box(b"stco", bytes(4) + struct.pack(">II", 1, chunk_offset))
    moov = box(b"moov", box(b"trak", box(b"mdia", box(b"minf", box(b"stbl", stco)))))
    return box(b"ftyp", b"isom" + bytes(4) + b"isom") + moov + box(b"mdat", b"x" * 16)


def test_stco_promoted_to_co64_when_shift_passes_4_gib() -> None:
    """A chunk offset that would pass 2**32 after the shift is written as co64."""
    src = _tiny_mp4(0xFFFFFFF0)
    out = write(_mp4.HANDLER, src)
    growth = len(out) - len(src)
    assert b"co64" in out and b"stco" not in out
    assert _stco(out) == [0xFFFFFFF0 + growth]  # growth includes the co64 promotion
    assert texts(_mp4.HANDLER, out) == [LABEL]


class _Sink(io.RawIOBase):
    """A write-only stream keeping the first ``keep`` bytes and counting the rest."""

    def __init__(self, keep: int) -> None:
        self.head = bytearray()
        self.size = 0
        self.keep = keep

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        n = len(b)
        if len(self.head) < self.keep:
            self.head += bytes(b[: self.keep - len(self.head)])
        self.size += n
        return n


@pytest.mark.slow
def test_two_gigabyte_mp4_in_bounded_memory(tmp_path: Path) -> None:
    """The issue's 2 GB MP4: labelled with < 16 MiB of Python memory, offsets shifted."""
    src = gen("fast.mp4", *V, "-c:v", "libx264", "-movflags", "+faststart")
    mdat = next(b for b in top_boxes(io.BytesIO(src)) if b.btype == b"mdat")
    total = 2 * 1024**3 + 12345
    path = tmp_path / "big.mp4"
    with path.open("wb") as f:
        f.write(src)
        f.seek(mdat.offset)
        f.write(struct.pack(">I", total - mdat.offset))
        f.truncate(total)  # sparse: the rest of mdat is a hole
    sink = _Sink(keep=len(src) + 4096)
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            _mp4.HANDLER.write(f, sink, LABEL)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = sink.size - total
    assert growth > 0
    assert peak < 16 << 20
    head = bytes(sink.head)
    moov = next(b for b in top_boxes(io.BytesIO(src)) if b.btype == b"moov")
    new_moov = parse_tree(head[moov.offset : moov.offset + moov.size + growth], moov.offset)
    assert new_moov[0].btype == b"moov"
    assert _stco(head[: moov.offset + moov.size + growth]) == [v + growth for v in _stco(src)]


def test_mp4_moov_at_end_changes_no_offsets() -> None:
    """Default ffmpeg MP4 (moov after mdat): mdat and stco are untouched."""
    src = gen("plain.mp4", *V, "-c:v", "libx264")
    out = write(_mp4.HANDLER, src)
    assert _stco(out) == _stco(src)
    moov = next(b for b in top_boxes(io.BytesIO(src)) if b.btype == b"moov")
    assert out[: moov.offset] == src[: moov.offset]


def test_mp4_legacy_udta_aigc_box_is_replaced() -> None:
    """A legacy udta/AIGC box (read by AigcTotal) is read, then replaced by the mdta key."""
    src = gen("plain.mp4", *V, "-c:v", "libx264")
    tops = top_boxes(io.BytesIO(src))
    moov = next(b for b in tops if b.btype == b"moov")
    legacy = struct.pack(">I4s", 8 + 9, b"AIGC") + b'{"old":1}'
    udta = struct.pack(">I4s", 8 + len(legacy), b"udta") + legacy
    body = src[moov.offset + 8 : moov.end]
    body = body.replace(b"udta", b"skip", 1)  # hide ffmpeg's udta so ours is the only one
    new_moov = struct.pack(">I4s", 8 + len(body) + len(udta), b"moov") + body + udta
    data = src[: moov.offset] + new_moov + src[moov.end :]
    assert texts(_mp4.HANDLER, data) == ['{"old":1}']
    out = write(_mp4.HANDLER, data)
    assert texts(_mp4.HANDLER, out) == [LABEL]


def test_mp4_keeps_itunes_tags(tmp_path: Path) -> None:
    """M4A iTunes ilst tags (udta/meta mdir) stay beside the new mdta meta."""
    src = gen("a.m4a", *A, "-c:a", "aac", "-metadata", "artist=Me", "-metadata", "album=Al")
    out = write(_mp4.HANDLER, src)
    tags, frames = probe(out, ".m4a", tmp_path)
    assert tags["artist"] == "Me" and tags["album"] == "Al" and tags["AIGC"] == LABEL
    assert frames == probe(src, ".m4a", tmp_path)[1]


# --- Ogg -----------------------------------------------------------------------------------


def _pages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(sequence, crc ok, body) of every page."""
    out = []
    pos = 0
    while pos < len(data):
        nseg = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + nseg]
        end = pos + 27 + nseg + sum(lacing)
        page = bytearray(data[pos:end])
        crc = struct.unpack_from("<I", page, 22)[0]
        page[22:26] = bytes(4)
        out.append((struct.unpack_from("<I", page, 18)[0], crc == _ogg.ogg_crc(bytes(page)),
                     bytes(page[27 + nseg :])))  # fmt: skip
        pos = end
    return out


@pytest.mark.parametrize("codec", ["libvorbis", "libopus"])
def test_ogg_big_comment_repaginates_and_renumbers(codec: str, tmp_path: Path) -> None:
    """A 70 KB label spans pages: later pages renumbered, every CRC valid, audio identical."""
    src = gen(f"a-{codec}.ogg", *A, "-c:a", codec, "-metadata", "title=keep-me")
    big = '{"Label":"1","X":"' + "y" * 70_000 + '"}'
    out = write(_ogg.HANDLER, src, big)
    assert texts(_ogg.HANDLER, out) == [big]
    p_src, p_out = _pages(src), _pages(out)
    assert len(p_out) > len(p_src)
    assert [s for s, _, _ in p_out] == list(range(len(p_out)))
    assert all(ok for _, ok, _ in p_out)
    extra = len(p_out) - len(p_src)
    assert [b for _, _, b in p_out[-(len(p_src) - 2) :]] == [b for _, _, b in p_src[2:]]
    assert extra >= 1
    _, frames = probe(out, ".ogg", tmp_path)
    assert frames == probe(src, ".ogg", tmp_path)[1]
    back = write(_ogg.HANDLER, out)  # and back to one page
    assert len(_pages(back)) == len(p_src) and all(ok for _, ok, _ in _pages(back))


# --- FLAC ----------------------------------------------------------------------------------


def _flac_blocks(data: bytes) -> list[tuple[int, bool, bytes]]:
    pos, out = 4, []
    while True:
        t, n = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((t & 0x7F, bool(t & 0x80), data[pos + 4 : pos + 4 + n]))
        pos += 4 + n
        if t & 0x80:
            return out


def _flac_rebuild(blocks: list[tuple[int, bytes]], audio: bytes) -> bytes:
    out = b"fLaC"
    for i, (t, body) in enumerate(blocks):
        last = 0x80 if i == len(blocks) - 1 else 0
        out += bytes((t | last,)) + len(body).to_bytes(3, "big") + body
    return out + audio


def test_flac_without_comment_block_gets_one_and_keeps_picture(tmp_path: Path) -> None:
    """FLAC: VORBIS_COMMENT created after STREAMINFO; PICTURE/PADDING kept; one last flag."""
    src = gen("a.flac", *A)
    blocks = _flac_blocks(src)
    audio = src[4 + sum(4 + len(b) for _, _, b in blocks) :]
    picture = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">I", 0) + bytes(16)
    picture += struct.pack(">I", 4) + b"\x89PNG"
    kept = [(t, b) for t, _, b in blocks if t != 4] + [(6, picture), (1, bytes(100))]
    data = _flac_rebuild(kept, audio)
    out = write(_flac.HANDLER, data)
    got = _flac_blocks(out)
    assert [t for t, _, _ in got] == [0, 4] + [t for t, _ in kept[1:]]
    assert [last for _, last, _ in got] == [False] * (len(got) - 1) + [True]
    assert [(t, b) for t, _, b in got if t != 4] == kept
    assert out.endswith(audio)
    assert texts(_flac.HANDLER, out) == [LABEL]
    tags, frames = probe(out, ".flac", tmp_path, "0:a", clean=False)
    assert tags["AIGC"] == LABEL
    assert frames == probe(data, ".flac", tmp_path, "0:a", clean=False)[1]


def test_flac_comment_keys_are_case_insensitive() -> None:
    """An existing 'aigc=' comment (other case) is read and replaced, not duplicated."""
    src = write(_flac.HANDLER, gen("a.flac", *A), '{"old":1}')
    lower = src.replace(b"AIGC=", b"aigc=")
    assert texts(_flac.HANDLER, lower) == ['{"old":1}']
    assert texts(_flac.HANDLER, write(_flac.HANDLER, lower)) == [LABEL]


# --- MP3 -----------------------------------------------------------------------------------


def _syncsafe(n: int) -> bytes:
    return bytes((n >> s) & 0x7F for s in (21, 14, 7, 0))


def _audio_only_mp3() -> bytes:
    return gen("n.mp3", *A, "-write_id3v2", "0")


def test_mp3_v23_unsynchronised_tag_with_extended_header(tmp_path: Path) -> None:
    """ID3v2.3 with tag-level unsynchronisation and an extended header: frames kept, label
    added, audio frames byte-identical."""
    title = b"\x01\xff\xfeK\x00\xff\x00"  # "Kÿ" in UTF-16: 0xFF bytes that need unsync
    frame = b"TIT2" + struct.pack(">I", len(title)) + b"\x00\x00" + title
    ext = struct.pack(">IHI", 6, 0, 0)
    raw = ext + frame
    unsync = raw.replace(b"\xff", b"\xff\x00")
    tag = b"ID3\x03\x00\xc0" + _syncsafe(len(unsync) + 10) + unsync + bytes(10)
    audio = _audio_only_mp3()
    data = tag + audio
    out = write(_mp3.HANDLER, data)
    assert texts(_mp3.HANDLER, out) == [LABEL]
    assert out.endswith(audio)
    assert frame in out  # de-unsynchronised, kept verbatim
    tags, frames = probe(out, ".mp3", tmp_path)
    assert tags["title"] == "K\u00ff"
    assert tags["AIGC"] == LABEL
    assert frames == probe(audio, ".mp3", tmp_path)[1]


def test_mp3_v22_tag_gets_txx_frame() -> None:
    """ID3v2.2 tags keep their 3-character frames; the label is a TXX frame."""
    tt2 = b"TT2" + (6).to_bytes(3, "big") + b"\x00hello"
    tag = b"ID3\x02\x00\x00" + _syncsafe(len(tt2) + 20) + tt2 + bytes(20)
    out = write(_mp3.HANDLER, tag + _audio_only_mp3())
    assert tt2 in out and b"TXX" in out
    assert texts(_mp3.HANDLER, out) == [LABEL]


def test_mp3_v24_footer_kept_and_unicode_in_v23() -> None:
    """A v2.4 footer is rewritten with the new size; non-ASCII text in v2.3 is UTF-16."""
    tit = b"TIT2" + _syncsafe(4) + b"\x00\x00" + b"\x03abc"
    tag = b"ID3\x04\x00\x10" + _syncsafe(len(tit)) + tit
    tag += b"3DI\x04\x00\x10" + _syncsafe(len(tit))
    out = write(_mp3.HANDLER, tag + _audio_only_mp3())
    size = _mp3._syncsafe(out[6:10], 6)
    assert out[10 + size : 10 + size + 3] == b"3DI"
    assert texts(_mp3.HANDLER, out) == [LABEL]
    v23 = b"ID3\x03\x00\x00" + _syncsafe(0)
    uni = '{"Label":"1","ProduceID":"生成"}'
    assert texts(_mp3.HANDLER, write(_mp3.HANDLER, v23 + _audio_only_mp3(), uni)) == [uni]


# --- WAV / AVI -----------------------------------------------------------------------------


def test_wav_keeps_every_chunk_and_fixes_riff_size() -> None:
    """WAV: LIST/INFO, bext-like and odd-sized chunks kept in order; RIFF size exact."""
    src = gen("a.wav", *A, "-metadata", "title=keep-me")
    odd = b"bext" + struct.pack("<I", 5) + b"abcde\x00"
    data = src[:12] + odd + src[12:]
    data = b"RIFF" + struct.pack("<I", len(data) - 8) + data[8:]
    out = write(_wav.HANDLER, data, LABEL + "x")  # odd-length payload gets a pad byte
    assert struct.unpack_from("<I", out, 4)[0] == len(out) - 8
    ids = [c.cid for c in riff_chunks(io.BytesIO(out), 12, len(out), "wav")]
    orig = [c.cid for c in riff_chunks(io.BytesIO(data), 12, len(data), "wav")]
    assert ids == [*orig, b"AIGC"]
    assert out.startswith(data[:12 + len(odd)][:4])
    assert texts(_wav.HANDLER, out) == [LABEL + "x"]


def test_avi_label_fills_junk_so_movi_does_not_move() -> None:
    """AVI: the INFO grows into ffmpeg's JUNK padding; movi and idx1 bytes are unchanged."""
    src = gen("a.avi", *V, "-c:v", "mpeg4")
    out = write(_avi.HANDLER, src)
    assert len(out) == len(src)
    movi = src.index(b"movi") - 8
    assert out[movi:] == src[movi:]
    assert texts(_avi.HANDLER, out) == [LABEL]


def test_avi_without_room_appends_info_after_idx1(tmp_path: Path) -> None:
    """AVI without JUNK before movi: a LIST/INFO is appended after idx1; nothing moves."""
    src = gen("a.avi", *V, "-c:v", "mpeg4")
    chunks = riff_chunks(io.BytesIO(src), 12, len(src), "avi")
    junk = next(c for c in chunks if c.cid == b"JUNK")
    # turn the JUNK into a LIST/INFO of the same size: no free space before movi any more
    sub = b"ISBJ" + struct.pack("<I", junk.size - 12) + bytes(junk.size - 12)
    info = b"LIST" + struct.pack("<I", junk.size) + b"INFO" + sub
    data = src[: junk.offset] + info + src[junk.end :]
    assert len(data) == len(src)
    out = write(_avi.HANDLER, data)
    assert out[: len(data)][16:] == data[16:]
    assert texts(_avi.HANDLER, out) == [LABEL]
    assert probe(out, ".avi", tmp_path)[1] == probe(src, ".avi", tmp_path)[1]
    twice = write(_avi.HANDLER, out, '{"Label":"2"}')
    assert texts(_avi.HANDLER, twice) == ['{"Label":"2"}']


# --- Matroska ------------------------------------------------------------------------------


def test_mkv_seekhead_points_at_the_new_tags_and_clusters_stay(tmp_path: Path) -> None:
    """MKV: clusters/cues never move; the SeekHead's Tags entry points at the Tags element."""
    src = gen("a.mkv", *V, "-c:v", "mpeg4", "-metadata", "title=keep-me")
    out = write(_mkv.HANDLER, src)
    f = io.BytesIO(out)
    seg = read_element_header(f, read_element_header(f, 0).end)
    els = level1(f, seg.data, seg.end)
    assert seg.end == len(out)
    tags = [e for e in els if e.eid == 0x1254C367]
    assert len(tags) == 1
    head = next(e for e in els if e.eid == 0x114D9B74)
    body = out[head.data : head.end]
    positions = {}
    for seek in children(body, head.data):
        if seek.eid != 0x4DBB:
            continue
        sub = children(out[seek.data : seek.end], seek.data)
        sid = next(out[s.data : s.end] for s in sub if s.eid == 0x53AB)
        pos = next(int.from_bytes(out[s.data : s.end], "big") for s in sub if s.eid == 0x53AC)
        positions[sid] = pos
    assert positions[b"\x12\x54\xc3\x67"] + seg.data == tags[0].offset
    src_clusters = [src[e.offset : e.end] for e in level1(io.BytesIO(src), seg.data, len(src))
                    if e.eid == 0x1F43B675]  # fmt: skip
    out_clusters = [out[e.offset : e.end] for e in els if e.eid == 0x1F43B675]
    assert src_clusters == out_clusters
    assert probe(out, ".mkv", tmp_path)[0]["AIGC"] == LABEL


def test_multiplexed_ogg_is_refused() -> None:
    """Ogg with two logical streams in the header pages is UnsupportedMedia, not guessed."""
    src = gen("a.ogv", *V, *A, "-c:v", "libtheora", "-c:a", "libvorbis", "-shortest")
    with pytest.raises(UnsupportedMedia):
        write(_ogg.HANDLER, src)


def test_file_to_file_kernel_copy_matches_in_memory_copy(tmp_path: Path) -> None:
    """Between real files mdat is copied in the kernel; the bytes equal the buffered path."""
    src = gen("fast.mp4", *V, "-c:v", "libx264", "-movflags", "+faststart")
    mdat = next(b for b in top_boxes(io.BytesIO(src)) if b.btype == b"mdat")
    total = 6 * 1024**2 + 7
    data = bytearray(src + bytes(total - len(src)))
    data[mdat.offset : mdat.offset + 4] = struct.pack(">I", total - mdat.offset)
    data[-5:] = b"tail!"
    path = tmp_path / "six.mp4"
    path.write_bytes(data)
    out = tmp_path / "out.mp4"
    with path.open("rb") as f, out.open("wb") as g:
        _mp4.HANDLER.write(f, g, LABEL)
        g.write(b"+")  # the buffered writer stays in step after the kernel copy
    assert out.read_bytes() == write(_mp4.HANDLER, bytes(data)) + b"+"


def test_streamed_mkv_with_unknown_segment_size(tmp_path: Path) -> None:
    """A Matroska stream written to a pipe (unknown Segment size) is labelled and decodes."""
    path = tmp_path / "live.mkv"
    with path.open("wb") as f:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-fflags", "+bitexact", *V, "-c:v", "mpeg4",
             "-metadata", "title=live", "-f", "matroska", "-"],
            check=True, stdout=f,
        )  # fmt: skip
    src = path.read_bytes()
    seg = read_element_header(io.BytesIO(src), read_element_header(io.BytesIO(src), 0).end)
    assert seg.size == -1
    out = write(_mkv.HANDLER, src)
    assert texts(_mkv.HANDLER, out) == [LABEL]
    tags, frames = probe(out, ".mkv", tmp_path)
    assert tags["AIGC"] == LABEL and tags["title"] == "live"
    assert frames == probe(src, ".mkv", tmp_path)[1]


def test_mkv_tags_crc32_is_recomputed() -> None:
    """A Tags element that carried a CRC-32 child gets a correct CRC-32 after labelling."""
    src = gen("a.mkv", *V, "-c:v", "mpeg4", "-metadata", "title=keep-me")
    f = io.BytesIO(src)
    seg = read_element_header(f, read_element_header(f, 0).end)
    tags = next(e for e in level1(f, seg.data, seg.end) if e.eid == 0x1254C367)
    body = src[tags.data : tags.end]
    with_crc = b"\xbf\x84" + struct.pack("<I", zlib.crc32(body)) + body
    new_tags = b"\x12\x54\xc3\x67" + (0x10000000 | len(with_crc)).to_bytes(4, "big") + with_crc
    grow = len(new_tags) - (tags.end - tags.offset)
    seg_size = (seg.size + grow) | (1 << 56)
    data = (
        src[: seg.offset + 4] + seg_size.to_bytes(8, "big") + src[seg.data : tags.offset]
        + new_tags + src[tags.end :]
    )  # fmt: skip
    out = write(_mkv.HANDLER, data)
    g = io.BytesIO(out)
    seg2 = read_element_header(g, read_element_header(g, 0).end)
    found = [e for e in level1(g, seg2.data, seg2.end) if e.eid == 0x1254C367]
    assert len(found) == 1
    kids = children(out[found[0].data : found[0].end], found[0].data)
    assert kids[0].eid == 0xBF
    crc = struct.unpack("<I", out[kids[0].data : kids[0].end])[0]
    assert crc == zlib.crc32(out[kids[0].end : found[0].end])
    assert texts(_mkv.HANDLER, out) == [LABEL]


def test_mp4_growth_absorbed_by_following_free_box() -> None:
    """A moov that grows into the free box after it moves no chunk offset."""
    src = gen("fast.mp4", *V, "-c:v", "libx264", "-movflags", "+faststart")
    big = write(_mp4.HANDLER, src, LABEL + " " * 300)
    small = write(_mp4.HANDLER, big, LABEL)  # leaves a free box behind moov
    mid = write(_mp4.HANDLER, small, LABEL + " " * 100)
    assert len(mid) == len(small) == len(big)
    assert _stco(mid) == _stco(small) == _stco(big)
    assert texts(_mp4.HANDLER, mid) == [LABEL + " " * 100]
