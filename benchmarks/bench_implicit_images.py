"""Implicit label on a ~20 MB JPEG and a ~20 MB PNG (LM-5, issue 19): label_file beside a
plain file copy and the atomic floor (bench_implicit_floor: temp file, insertion, rename,
no fsync, as label_file), into a fresh and an existing target, and exiftool writing the
same XMP-TC260:AIGC property, all in this run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench_implicit_floor import atomic_floor, both, compare, plain_copy, report
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
    """Print each writer beside the plain copy and the atomic floor, then exiftool."""
    label = AIGCLabel(content_producer="001191110108MA01ABCDE1A1B2", produce_id="bench-1")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pixels = Image.frombytes("RGB", (4200, 3400), os.urandom(4200 * 3400 * 3))
        jpeg = d / "big.jpg"
        pixels.save(jpeg, "JPEG", quality=97)
        png = d / "big.png"
        pixels.crop((0, 0, 2600, 2600)).save(png, "PNG", compress_level=1)
        del pixels

        def ours(s: Path, t: Path) -> None:
            label_file(s, t, label)

        for name, src in (("JPEG", jpeg), ("PNG", png)):
            both(f"{name} (Pillow, random pixels)", src, d, ours)
            label_file(src, d / "check", label)
            assert [r.text for r in read_labels(d / "check")] == [label.to_json()]
        exiftool = shutil.which("exiftool")
        if exiftool is None:
            print("  exiftool not installed: no comparison")
            return
        cfg = d / "tc260.config"
        cfg.write_text(_CONFIG)

        def theirs(s: Path, t: Path) -> None:
            t.unlink(missing_ok=True)
            subprocess.run([exiftool, "-config", str(cfg), "-q", "-o", str(t),
                            f"-XMP-TC260:AIGC={label.to_json()}", str(s)], check=True)

        mb = jpeg.stat().st_size / 1e6
        report(f"JPEG, {mb:.0f} MB, against exiftool writing the same property", mb,
               compare(jpeg, d, {"copy": plain_copy, "atomic": atomic_floor,
                                 "label_file": ours, "exiftool": theirs}, repeat=3))


if __name__ == "__main__":
    main()
