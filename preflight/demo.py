"""``./dev demo``: the main job on the embedded default, on real photographs.

Writes sample artwork made from photographs that ship with scikit-image (no download), then
runs ``preflight check`` on them for an iPhone and an iPad template and prints the verdicts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from preflight.cli import main as cli_main

__all__ = ["main"]


def _write_samples(folder: Path) -> dict[str, Path]:
    from skimage import data  # imported here: the library proper does not need it

    folder.mkdir(parents=True, exist_ok=True)
    astronaut = Image.fromarray(data.astronaut())  # 512×512 RGB photograph (NASA, public domain)
    samples = {
        # Enlarged to a size that meets the iPhone minimum, saved as JPEG like a phone upload.
        "astronaut-2048.jpg": astronaut.resize((2048, 2048), Image.Resampling.LANCZOS),
        # The untouched original: too small for a case.
        "astronaut-512.png": astronaut,
    }
    paths = {}
    for name, image in samples.items():
        path = folder / name
        image.save(path, quality=92) if name.endswith(".jpg") else image.save(path)
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    args = parser.parse_args(argv)
    samples = _write_samples(args.out / "artwork")
    worst = 0
    for artwork, template in (
        ("astronaut-2048.jpg", "iphone-15"),
        ("astronaut-2048.jpg", "ipad-10"),
        ("astronaut-512.png", "iphone-15-clear"),
    ):
        out = args.out / f"{Path(artwork).stem}--{template}"
        print(f"\n$ preflight check {samples[artwork]} --template {template} --out {out}")
        worst = max(
            worst,
            cli_main(["check", str(samples[artwork]), "--template", template, "--out", str(out)]),
        )
    print(
        f"\nOpen {args.out}/*/proof.png (the case as it will print), overlay.png (the findings "
        "on the artwork), color-shift.png, print.tif (CMYK) and report.json to see the results."
    )
    return 0 if worst < 2 else worst


if __name__ == "__main__":
    sys.exit(main())
