"""Implicit label on a ~20 MB JPEG (LM-5): our byte-level writer beside a plain file copy
(the floor) and exiftool writing the same XMP-TC260:AIGC property, all in this run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _util import line, rate
from PIL import Image

from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_file, read_labels

_CONFIG = """%Image::ExifTool::UserDefined = (
    'Image::ExifTool::XMP::Main' => {
        TC260 => { SubDirectory => { TagTable => 'Image::ExifTool::UserDefined::TC260' } },
    },
);
%Image::ExifTool::UserDefined::TC260 = (
    GROUPS => { 0 => 'XMP', 1 => 'XMP-TC260', 2 => 'Image' },
    NAMESPACE => { 'TC260' => 'http://www.tc260.org.cn/ns/AIGC/1.0/' },
    WRITABLE => 'string',
    AIGC => { },
);
1;
"""


def main() -> None:
    """Print MB/s of labelling vs copy vs exiftool."""
    label = AIGCLabel(content_producer="001191110108MA01ABCDE1A1B2", produce_id="bench-1")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "big.jpg"
        Image.frombytes("RGB", (4200, 3400), os.urandom(4200 * 3400 * 3)).save(
            src, "JPEG", quality=97)
        mb = src.stat().st_size / 1e6
        print(f"  JPEG of {mb:.1f} MB")

        def copy() -> int:
            shutil.copyfile(src, d / "copy.jpg")
            return 1

        def ours() -> int:
            label_file(src, d / "ours.jpg", label)
            return 1

        floor = rate(copy, 3) * mb
        line("plain file copy (floor)", floor, floor, "MB/s")
        value = rate(ours, 3) * mb
        line("label_file (APP1 XMP, byte level) vs copy", value, floor, "MB/s")
        assert [r.text for r in read_labels(d / "ours.jpg")] == [label.to_json()]
        exiftool = shutil.which("exiftool")
        if exiftool is None:
            print("  exiftool not installed: no comparison")
            return
        cfg = d / "tc260.config"
        cfg.write_text(_CONFIG)

        def theirs() -> int:
            subprocess.run([exiftool, "-config", str(cfg), "-q", "-o",
                            str(d / f"ex{os.urandom(4).hex()}.jpg"),
                            f"-XMP-TC260:AIGC={label.to_json()}", str(src)], check=True)
            return 1

        ex = rate(theirs, 2) * mb
        line("exiftool -XMP-TC260:AIGC= (same property) vs copy", ex, floor, "MB/s")
        line("label_file vs exiftool", value, ex, "MB/s")


if __name__ == "__main__":
    main()
