"""Colour management: the only module that imports ``PIL.ImageCms``.

Profiles: an artwork's embedded ICC profile is its source profile; without one, RGB and grey
artwork is taken as sRGB and CMYK artwork as already in the output space (both reported).
Output profiles are CMYK printer profiles found in the profiles folders (the shipped one, plus
any folder the caller adds); each is validated before it can be selected by name (file stem).

Transforms cost ~10–20 ms to build, so they are cached per process, keyed by the profiles'
SHA-256, the modes, the intent and the flags. Images are always converted to the transform's
input mode before it is applied (a wrong-mode transform is refused by Pillow 13 and was a
memory-safety bug before).

The conversion into the press space can also go through :class:`ConversionTables`: for an
8-bit RGB (or grey) source, LittleCMS's answer for every possible input colour is computed
once into a table (2^24 CMYK values, 64 MiB; 256 for grey) and the image is converted by
looking each pixel up. LittleCMS's 8-bit transforms are pure functions of the pixel, so the
result is byte-identical to applying the transform, at 6–8× its throughput per core (measured
on phone and tablet canvases: ~240–360 MP/s against ~40). Tables live
in files that every process on the machine maps (the page cache holds one copy).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, features

from preflight.cmyk_grid import CmykGrid
from preflight.datapaths import default_profiles_dir
from preflight.errors import InvalidProfile, UnknownProfile
from preflight.resample import to_pixels

__all__ = [
    "DEFAULT_OUTPUT_PROFILE",
    "ColorSettings",
    "ConversionTables",
    "IccInfo",
    "OutputProfile",
    "ProfileLibrary",
    "RenderingIntent",
    "conversion_ink_bound",
    "convert_to_output",
    "describe_icc",
    "print_to_lab",
    "soft_proof",
    "source_to_lab",
    "srgb_profile_bytes",
    "total_ink_units",
]

DEFAULT_OUTPUT_PROFILE = "chemical-proof"
_PROFILE_SUFFIXES = (".icc", ".icm")


class RenderingIntent(StrEnum):
    """ICC rendering intents, by the names the CLI and API accept."""

    PERCEPTUAL = "perceptual"
    RELATIVE = "relative"
    SATURATION = "saturation"
    ABSOLUTE = "absolute"

    @property
    def lcms(self) -> ImageCms.Intent:
        return {
            RenderingIntent.PERCEPTUAL: ImageCms.Intent.PERCEPTUAL,
            RenderingIntent.RELATIVE: ImageCms.Intent.RELATIVE_COLORIMETRIC,
            RenderingIntent.SATURATION: ImageCms.Intent.SATURATION,
            RenderingIntent.ABSOLUTE: ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
        }[self]


@dataclass(frozen=True)
class ColorSettings:
    """How to convert to the press: output profile name, intent, black point compensation."""

    output_profile: str = DEFAULT_OUTPUT_PROFILE
    intent: RenderingIntent = RenderingIntent.RELATIVE
    black_point_compensation: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "output_profile": self.output_profile,
            "intent": self.intent.value,
            "black_point_compensation": self.black_point_compensation,
        }


@dataclass(frozen=True)
class IccInfo:
    """What an ICC profile says about itself."""

    description: str
    color_space: str  # ICC colour space signature, stripped: "RGB", "CMYK", "GRAY", ...
    device_class: str  # "mntr", "prtr", "scnr", ...
    sha256: str


def describe_icc(data: bytes) -> IccInfo:
    """Parse ``data`` as an ICC profile, or raise :class:`InvalidProfile`."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        core = profile.profile
        return IccInfo(
            description=(core.profile_description or "").strip() or "(no description)",
            color_space=core.xcolor_space.strip(),
            device_class=core.device_class.strip(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as exc:
        raise InvalidProfile(f"not a readable ICC profile ({exc})") from exc


_SRGB_BYTES: bytes | None = None


def srgb_profile_bytes() -> bytes:
    """The sRGB profile assumed for untagged RGB and grey artwork (LittleCMS's built-in)."""
    global _SRGB_BYTES
    if _SRGB_BYTES is None:
        _SRGB_BYTES = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_BYTES


@dataclass(frozen=True)
class OutputProfile:
    """A validated CMYK output profile, selectable by ``name``."""

    name: str
    path: Path
    info: IccInfo

    @cached_property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "description": self.info.description,
            "file": self.path.name,
            "sha256": self.info.sha256,
        }


@dataclass(frozen=True)
class RejectedProfile:
    """A file in a profiles folder that cannot serve as an output profile, and why."""

    path: Path
    reason: str


class ProfileLibrary:
    """The output profiles available to a run: the shipped folder plus any extra folders.

    A later folder's profile of the same name replaces an earlier one, so a printer's own
    profile can override the default by name.
    """

    def __init__(self, extra_dirs: Iterable[Path] = ()) -> None:
        self._profiles: dict[str, OutputProfile] = {}
        self.rejected: list[RejectedProfile] = []
        for folder in (default_profiles_dir(), *extra_dirs):
            if not folder.is_dir():
                raise InvalidProfile(f"profiles folder {folder} does not exist")
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in _PROFILE_SUFFIXES:
                    self._add(path)

    def _add(self, path: Path) -> None:
        try:
            info = describe_icc(path.read_bytes())
        except (InvalidProfile, OSError) as exc:
            self.rejected.append(RejectedProfile(path, f"unreadable: {exc}"))
            return
        if info.color_space != "CMYK":
            self.rejected.append(
                RejectedProfile(path, f"a {info.color_space} profile; an output profile is CMYK")
            )
            return
        if info.device_class != "prtr":
            self.rejected.append(
                RejectedProfile(
                    path, f"device class {info.device_class!r}; an output profile is 'prtr'"
                )
            )
            return
        try:  # an output profile must convert *into* CMYK (needs the B2A tables)
            _cached_transform(
                srgb_profile_bytes(),
                path.read_bytes(),
                "RGB",
                "CMYK",
                RenderingIntent.RELATIVE,
                True,
            )
        except InvalidProfile as exc:
            self.rejected.append(RejectedProfile(path, f"cannot be used for output: {exc}"))
            return
        self._profiles[path.stem] = OutputProfile(path.stem, path, info)

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def __iter__(self) -> Iterator[OutputProfile]:
        return iter(self._profiles[name] for name in self.names())

    def get(self, name: str) -> OutputProfile:
        try:
            return self._profiles[name]
        except KeyError:
            rejected = [r for r in self.rejected if r.path.stem == name]
            if rejected:
                raise InvalidProfile(
                    f"profile {name!r} ({rejected[0].path}) cannot be used: {rejected[0].reason}"
                ) from None
            raise UnknownProfile(
                f"unknown output profile {name!r}; available: {', '.join(self.names())}. "
                "Add a printer profile by dropping its .icc file into a profiles folder."
            ) from None


_TransformKey = tuple[str, str, str, str, str, bool]
_TRANSFORMS: dict[_TransformKey, ImageCms.ImageCmsTransform] = {}
_TRANSFORMS_LOCK = threading.Lock()


@lru_cache(maxsize=64)
def _profile_digest(profile: bytes) -> str:
    # A job asks for its transforms' keys 8 times, and a press profile is ~1 MB: its SHA-256
    # took 0.8 ms a time on a 2.1 GHz core. Looked up by the bytes (Python keeps a bytes
    # object's hash, and the same object compares by identity first): once per profile.
    return hashlib.sha256(profile).hexdigest()


def _transform_key(
    source: bytes, output: bytes, in_mode: str, out_mode: str, intent: RenderingIntent, bpc: bool
) -> _TransformKey:
    return (
        _profile_digest(source),
        _profile_digest(output),
        in_mode,
        out_mode,
        intent.value,
        bpc,
    )


def _cached_transform(
    source: bytes,
    output: bytes,
    in_mode: str,
    out_mode: str,
    intent: RenderingIntent,
    bpc: bool,
) -> ImageCms.ImageCmsTransform:
    key = _transform_key(source, output, in_mode, out_mode, intent, bpc)
    with _TRANSFORMS_LOCK:
        cached = _TRANSFORMS.get(key)
    if cached is not None:
        return cached
    flags = ImageCms.Flags.BLACKPOINTCOMPENSATION if bpc else ImageCms.Flags.NONE
    try:
        transform = ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(source)),
            ImageCms.ImageCmsProfile(io.BytesIO(output)),
            in_mode,
            out_mode,
            renderingIntent=intent.lcms,
            flags=flags,
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        raise InvalidProfile(
            f"LittleCMS cannot build a {in_mode}→{out_mode} transform with these profiles ({exc})"
        ) from exc
    with _TRANSFORMS_LOCK:
        _TRANSFORMS[key] = transform
    return transform


def _apply(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    try:
        converted = ImageCms.applyTransform(image.convert(transform.input_mode), transform)
    except (ImageCms.PyCMSError, ValueError) as exc:
        raise InvalidProfile(f"colour conversion failed: {exc}") from exc
    if converted is None:  # only in-place transforms return None; we never ask for one
        raise RuntimeError("LittleCMS returned no image")
    return converted


# Pixel values are packed little-endian into one 32-bit word (R | G<<8 | B<<16, and
# C | M<<8 | Y<<16 | K<<24), whatever the machine's byte order.
_WORD = np.dtype("<u4")
_RGB_COLOURS = 1 << 24
_TABLE_FORMAT = 1  # bump when the file layout changes: old files are then ignored
_TABLE_BUILD_ROWS = 1024  # the build converts 1024×1024-colour slabs (12 MB transient)
_LOOKUP_ROWS = 128  # rows per lookup strip: small temporaries, whole cache lines
_PAGE_ENTRIES = 4096 // 4  # table entries in a 4 KiB memory page


class ConversionTables:
    """Exact lookup tables for the conversion into the press space, shared between processes.

    Parameters
    ----------
    directory
        Where table files live (one per source profile, output profile, intent and black
        point compensation, and LittleCMS version). ``None`` keeps tables in this process
        only.
    build_after_uses
        A table costs ~1 s and 64 MiB to build, the price of ~5 iPad conversions, so a
        service builds one only for a conversion it has seen this many times (the default
        profile is built at start-up with :meth:`prepare`). Files already in ``directory``
        are used at once.
    """

    def __init__(self, directory: Path | None = None, build_after_uses: int = 1) -> None:
        if build_after_uses < 1:
            raise ValueError("build_after_uses must be at least 1")
        self.directory = directory
        self.build_after_uses = build_after_uses
        self._tables: dict[_TransformKey, np.ndarray] = {}
        self._uses: dict[_TransformKey, int] = {}
        self._ink_bounds: dict[_TransformKey, int] = {}
        self._lock = threading.Lock()

    def prepare(
        self, source_icc: bytes | None, output: OutputProfile, settings: ColorSettings
    ) -> None:
        """Build (or map) the RGB table for this conversion now and bring it into memory, e.g.
        when a worker starts, so that its first jobs do not wait on page faults."""
        source = srgb_profile_bytes() if source_icc is None else source_icc
        transform = _cached_transform(
            source, output.data, "RGB", "CMYK", settings.intent, settings.black_point_compensation
        )
        key = _transform_key(
            source, output.data, "RGB", "CMYK", settings.intent, settings.black_point_compensation
        )
        table = self._table(key, transform, force=True)
        if table is not None:
            _ = int(table[:: _PAGE_ENTRIES].sum())  # one read a page maps every page

    def convert(
        self, image: Image.Image, key: _TransformKey, transform: ImageCms.ImageCmsTransform
    ) -> Image.Image | None:
        """``image`` (RGB or L) through the table for ``transform``; ``None`` if no table yet."""
        if image.mode not in ("RGB", "L") or transform.input_mode != image.mode:
            return None
        table = self._table(key, transform, force=image.mode == "L")  # grey: 256 entries
        if table is None:
            return None
        width, height = image.size
        out = np.empty((height, width), dtype=_WORD)
        if image.mode == "L":
            np.take(table, np.asarray(image), out=out)
        else:
            # Pillow stores RGB as 4 bytes a pixel; to_pixels hands them over as they are,
            # so one mask makes the table index (no per-channel shifting). Strip by strip, so
            # the temporaries stay small whatever the canvas.
            low_24_bits = np.uint32(_RGB_COLOURS - 1)
            for top in range(0, height, _LOOKUP_ROWS):
                bottom = min(height, top + _LOOKUP_ROWS)
                strip = to_pixels(image.crop((0, top, width, bottom)))
                index = strip.reshape(-1).view(_WORD) & low_24_bits
                np.take(table, index, out=out[top:bottom].reshape(-1))
        return Image.frombuffer("CMYK", (width, height), out, "raw", "CMYK", 0, 1)

    def ink_bound(self, key: _TransformKey) -> int | None:
        """The largest C+M+Y+K (8-bit units) in the table for ``key``; ``None`` if this
        process has no such table. Measured once per table and process (~40 ms for an RGB
        table), then a dictionary lookup."""
        with self._lock:
            bound, table = self._ink_bounds.get(key), self._tables.get(key)
        if bound is not None or table is None:
            return bound
        chunk = min(table.size, 1 << 20)
        out, scratch = np.empty(chunk, np.uint32), np.empty(chunk, np.uint32)
        bound = 0
        for start in range(0, table.size, chunk):
            words = table[start : start + chunk]
            units = total_ink_units(words, out[: words.size], scratch[: words.size])
            bound = max(bound, int(units.max()))
        with self._lock:
            self._ink_bounds[key] = bound
        return bound

    def _table(
        self, key: _TransformKey, transform: ImageCms.ImageCmsTransform, *, force: bool
    ) -> np.ndarray | None:
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                return table
            self._uses[key] = uses = self._uses.get(key, 0) + 1
        grey = transform.input_mode == "L"
        path = self._path(key)
        if not grey and path is not None and path.exists():
            table = self._map(path)
        if table is None:
            if not (force or uses >= self.build_after_uses):
                return None
            table = _build_grey_table(transform) if grey else self._build(path, transform)
        with self._lock:
            self._tables[key] = table
        return table

    def _path(self, key: _TransformKey) -> Path | None:
        if self.directory is None:
            return None
        lcms = features.version("littlecms2")
        identity = "|".join(map(str, (*key, lcms, _TABLE_FORMAT)))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return self.directory / f"rgb-to-cmyk-{digest}.u32"

    @staticmethod
    def _map(path: Path) -> np.ndarray | None:
        try:
            if path.stat().st_size != _RGB_COLOURS * _WORD.itemsize:
                return None  # a torn or foreign file: rebuild it
            return np.memmap(path, dtype=_WORD, mode="r", shape=(_RGB_COLOURS,))
        except OSError:
            return None

    def _build(self, path: Path | None, transform: ImageCms.ImageCmsTransform) -> np.ndarray:
        if path is not None:
            try:
                return self._build_file(path, transform)
            except OSError:
                pass  # a read-only or full folder must not fail jobs: keep it in this process
        table = np.empty(_RGB_COLOURS, dtype=_WORD)
        _fill_rgb_table(transform, table)
        return table

    def _build_file(self, path: Path, transform: ImageCms.ImageCmsTransform) -> np.ndarray:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One process builds; the others wait on the lock, then map the finished file.
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mapped = self._map(path)
            if mapped is not None:
                return mapped
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".partial")
            try:
                with os.fdopen(handle, "w+b") as file:
                    file.truncate(_RGB_COLOURS * _WORD.itemsize)
                    table = np.memmap(file, dtype=_WORD, mode="r+", shape=(_RGB_COLOURS,))
                    _fill_rgb_table(transform, table)
                    table.flush()
                    del table
                os.replace(temporary, path)  # atomic: readers see all of it or nothing
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        mapped = self._map(path)
        if mapped is None:
            raise OSError(f"conversion table {path} vanished right after it was written")
        return mapped


def _fill_rgb_table(transform: ImageCms.ImageCmsTransform, table: np.ndarray) -> None:
    # Every RGB colour, in index order (R | G<<8 | B<<16), converted slab by slab by the very
    # transform the table stands for.
    slab = _TABLE_BUILD_ROWS * 1024
    opaque = np.uint32(0xFF000000)
    for start in range(0, _RGB_COLOURS, slab):
        colours = np.arange(start, start + slab, dtype=_WORD) | opaque
        rgb = Image.frombytes("RGB", (1024, _TABLE_BUILD_ROWS), colours.tobytes(), "raw", "RGBX")
        cmyk = _apply(rgb, transform)
        table[start : start + slab] = np.frombuffer(cmyk.tobytes(), dtype=_WORD)


def _build_grey_table(transform: ImageCms.ImageCmsTransform) -> np.ndarray:
    grey = Image.frombytes("L", (256, 1), bytes(range(256)))
    return np.frombuffer(_apply(grey, transform).tobytes(), dtype=_WORD).copy()


def convert_to_output(
    image: Image.Image,
    source_icc: bytes | None,
    output: OutputProfile,
    settings: ColorSettings,
    tables: ConversionTables | None = None,
) -> Image.Image:
    """Convert a flattened image (mode RGB, L or CMYK) into the output CMYK space.

    ``source_icc`` is the artwork's own profile; ``None`` means sRGB for RGB/L and "already in
    the output space" for CMYK, in which case the separations pass through untouched (a
    CMYK→CMYK round trip through LittleCMS would rebuild pure-K text as four-colour black).
    With ``tables``, RGB and grey go through an exact lookup table when one is available
    (the same bytes as LittleCMS, faster).
    """
    mode = image.mode
    if mode not in ("RGB", "L", "CMYK"):
        raise ValueError(f"convert_to_output expects RGB, L or CMYK, got {mode}")
    if mode == "CMYK" and (source_icc is None or source_icc == output.data):
        return image.copy()
    if source_icc is None:
        if mode == "L":  # untagged grey is sRGB-grey: same neutral values on every channel
            image, mode = image.convert("RGB"), "RGB"
        source_icc = srgb_profile_bytes()
    intent, bpc = settings.intent, settings.black_point_compensation
    transform = _cached_transform(source_icc, output.data, mode, "CMYK", intent, bpc)
    if tables is not None:
        key = _transform_key(source_icc, output.data, mode, "CMYK", intent, bpc)
        converted = tables.convert(image, key, transform)
        if converted is not None:
            return converted
    return _apply(image, transform)


def conversion_ink_bound(
    mode: str,
    source_icc: bytes | None,
    output: OutputProfile,
    settings: ColorSettings,
    tables: ConversionTables | None,
) -> int | None:
    """The most ink (C+M+Y+K in 8-bit units, 255 = 100 %) that :func:`convert_to_output` can
    give any pixel of a ``mode`` image, when the conversion's table is at hand; ``None``
    otherwise (CMYK supplied as is, no table yet). The table holds LittleCMS's result for
    every colour, so this bounds the conversion however it ran."""
    if tables is None or mode not in ("RGB", "L"):
        return None
    if source_icc is None:
        source_icc, mode = srgb_profile_bytes(), "RGB"  # untagged grey converts as sRGB
    intent, bpc = settings.intent, settings.black_point_compensation
    return tables.ink_bound(_transform_key(source_icc, output.data, mode, "CMYK", intent, bpc))


def total_ink_units(packed: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """C+M+Y+K per pixel in 8-bit units (255 = 100 %), from CMYK pixels packed one per uint32;
    written into ``out`` (``scratch`` is overwritten).

    The sum is taken with masks on the packed words: NumPy's reduction over a length-4 last
    axis is several times slower, and on a tablet canvas it would cost more than the colour
    conversion that made the separations. Done in place: no temporaries per strip.
    """
    np.bitwise_and(packed, 0x00FF00FF, out=out)
    np.right_shift(packed, 8, out=scratch)
    scratch &= 0x00FF00FF
    out += scratch  # two 16-bit lanes: C+M (low) and Y+K (high), each ≤ 510
    # Multiplying by 0x10001 adds the low lane into the high one (the overflow past 32 bits
    # drops the high lane's own copy); the high half is then C+M+Y+K, at most 1020.
    out *= 0x10001
    out >>= 16
    return out



_LAB_BYTES: bytes | None = None


def _lab_profile_bytes() -> bytes:
    global _LAB_BYTES
    if _LAB_BYTES is None:
        _LAB_BYTES = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    return _LAB_BYTES


def _lab_array(image: Image.Image) -> np.ndarray:
    # Pillow's 8-bit LAB: L* scaled to 0–255; a* and b* are signed bytes (two's complement).
    raw = np.asarray(image, dtype=np.uint8)
    lab = np.empty(raw.shape, dtype=np.float32)
    lab[..., 0] = raw[..., 0] * (100.0 / 255.0)
    lab[..., 1:] = raw[..., 1:].view(np.int8)
    return lab


def source_to_lab(image: Image.Image, source_icc: bytes | None) -> np.ndarray:
    """CIELAB (D50, relative colorimetric) of flattened artwork in its own colour space."""
    mode = image.mode
    if source_icc is None:
        if mode == "CMYK":
            raise ValueError("untagged CMYK is in the output space: use print_to_lab")
        image, mode, source_icc = image.convert("RGB"), "RGB", srgb_profile_bytes()
    transform = _cached_transform(
        source_icc, _lab_profile_bytes(), mode, "LAB", RenderingIntent.RELATIVE, False
    )
    converted = ImageCms.applyTransform(image.convert(transform.input_mode), transform)
    if converted is None:
        raise RuntimeError("LittleCMS returned no image")
    return _lab_array(converted)


def print_to_lab(cmyk: Image.Image, output: OutputProfile) -> np.ndarray:
    """Predicted appearance (CIELAB, relative to paper white) of CMYK in the output space."""
    transform = _cached_transform(
        output.data, _lab_profile_bytes(), "CMYK", "LAB", RenderingIntent.RELATIVE, False
    )
    converted = ImageCms.applyTransform(cmyk.convert("CMYK"), transform)
    if converted is None:
        raise RuntimeError("LittleCMS returned no image")
    return _lab_array(converted)


def soft_proof(cmyk: Image.Image, output: OutputProfile) -> Image.Image:
    """How CMYK in the output space will look, as sRGB, paper white included.

    Absolute colorimetric from the press profile: the paper's own white and tint are kept
    (relative colorimetric would map paper to screen white and flatter the print).

    Through the transform's grid (:mod:`preflight.cmyk_grid`: within one level of LittleCMS,
    3.6 times as fast), or LittleCMS itself for a profile whose grid fails its check.
    """
    transform = _cached_transform(
        output.data, srgb_profile_bytes(), "CMYK", "RGB", RenderingIntent.ABSOLUTE, False
    )
    grid = _soft_proof_grid(_profile_digest(output.data), transform)
    if grid is not None:
        return grid.convert(cmyk if cmyk.mode == "CMYK" else cmyk.convert("CMYK"))
    try:
        converted = ImageCms.applyTransform(cmyk.convert("CMYK"), transform)
    except (ImageCms.PyCMSError, ValueError) as exc:
        raise InvalidProfile(f"soft proof failed: {exc}") from exc
    if converted is None:
        raise RuntimeError("LittleCMS returned no image")
    return converted


_GRIDS: dict[str, CmykGrid | None] = {}
_GRIDS_LOCK = threading.Lock()


def _soft_proof_grid(
    output_digest: str, transform: ImageCms.ImageCmsTransform
) -> CmykGrid | None:
    # Built once per output profile and process (~7 ms: 83 521 nodes and 32 768 check
    # colours through LittleCMS), under the lock so that two job threads build it once.
    with _GRIDS_LOCK:
        if output_digest not in _GRIDS:
            _GRIDS[output_digest] = CmykGrid.build(lambda image: _apply(image, transform))
        return _GRIDS[output_digest]
