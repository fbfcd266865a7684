"""Colour management: the only module that imports ``PIL.ImageCms``.

Profiles: an artwork's embedded ICC profile is its source profile; without one, RGB and grey
artwork is taken as sRGB and CMYK artwork as already in the output space (both reported).
Output profiles are CMYK printer profiles found in the profiles folders (the shipped one, plus
any folder the caller adds); each is validated before it can be selected by name (file stem).

Transforms cost ~10–20 ms to build, so they are cached per process, keyed by the profiles'
SHA-256, the modes, the intent and the flags. Images are always converted to the transform's
input mode before it is applied (a wrong-mode transform is refused by Pillow 13 and was a
memory-safety bug before).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from preflight.datapaths import default_profiles_dir
from preflight.errors import InvalidProfile, UnknownProfile

__all__ = [
    "DEFAULT_OUTPUT_PROFILE",
    "ColorSettings",
    "IccInfo",
    "OutputProfile",
    "ProfileLibrary",
    "RenderingIntent",
    "convert_to_output",
    "describe_icc",
    "print_to_lab",
    "soft_proof",
    "source_to_lab",
    "srgb_profile_bytes",
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


_TRANSFORMS: dict[tuple[str, str, str, str, str, bool], ImageCms.ImageCmsTransform] = {}
_TRANSFORMS_LOCK = threading.Lock()


def _cached_transform(
    source: bytes,
    output: bytes,
    in_mode: str,
    out_mode: str,
    intent: RenderingIntent,
    bpc: bool,
) -> ImageCms.ImageCmsTransform:
    key = (
        hashlib.sha256(source).hexdigest(),
        hashlib.sha256(output).hexdigest(),
        in_mode,
        out_mode,
        intent.value,
        bpc,
    )
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


def convert_to_output(
    image: Image.Image,
    source_icc: bytes | None,
    output: OutputProfile,
    settings: ColorSettings,
) -> Image.Image:
    """Convert a flattened image (mode RGB, L or CMYK) into the output CMYK space.

    ``source_icc`` is the artwork's own profile; ``None`` means sRGB for RGB/L and "already in
    the output space" for CMYK, in which case the separations pass through untouched (a
    CMYK→CMYK round trip through LittleCMS would rebuild pure-K text as four-colour black).
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
    transform = _cached_transform(
        source_icc,
        output.data,
        mode,
        "CMYK",
        settings.intent,
        settings.black_point_compensation,
    )
    try:
        converted = ImageCms.applyTransform(image.convert(transform.input_mode), transform)
    except (ImageCms.PyCMSError, ValueError) as exc:
        raise InvalidProfile(f"colour conversion failed: {exc}") from exc
    if converted is None:  # only in-place transforms return None; we never ask for one
        raise RuntimeError("LittleCMS returned no image")
    return converted


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
    """
    transform = _cached_transform(
        output.data, srgb_profile_bytes(), "CMYK", "RGB", RenderingIntent.ABSOLUTE, False
    )
    try:
        converted = ImageCms.applyTransform(cmyk.convert("CMYK"), transform)
    except (ImageCms.PyCMSError, ValueError) as exc:
        raise InvalidProfile(f"soft proof failed: {exc}") from exc
    if converted is None:
        raise RuntimeError("LittleCMS returned no image")
    return converted
