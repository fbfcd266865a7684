"""Exact conversion tables (the same bytes as LittleCMS) and the job runner's threads."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from preflight.checks import CheckConfig
from preflight.color import (
    ColorSettings,
    ConversionTables,
    ProfileLibrary,
    RenderingIntent,
    conversion_ink_bound,
    convert_to_output,
    total_ink_units,
)
from preflight.errors import DeadlineExceeded
from preflight.geometry import Placement
from preflight.job import JobRequest, run_job
from preflight.templates import Catalog
from tests.imaging import encode, photo


def _every_kind_of_colour() -> Image.Image:
    # A photograph, a random scatter over the whole RGB cube, and the cube's corners.
    rng = np.random.default_rng(3)
    scatter = rng.integers(0, 256, (300, 512, 3), dtype=np.uint8)
    corners = np.array(
        [[(r, g, b) for r in (0, 255) for g in (0, 255) for b in (0, 255)]], dtype=np.uint8
    )
    scatter[0, :8] = corners[0]
    picture = np.asarray(photo((512, 400)).convert("RGB"))
    return Image.fromarray(np.concatenate([picture, scatter]))


@pytest.mark.parametrize(
    ("intent", "bpc"),
    [(RenderingIntent.RELATIVE, True), (RenderingIntent.PERCEPTUAL, False)],
)
def test_table_gives_littlecms_bytes(
    profiles: ProfileLibrary, tables: ConversionTables, intent: RenderingIntent, bpc: bool
) -> None:
    output = profiles.get("chemical-proof")
    settings = ColorSettings(intent=intent, black_point_compensation=bpc)
    image = _every_kind_of_colour()
    expected = convert_to_output(image, None, output, settings)
    through_table = convert_to_output(image, None, output, settings, tables)
    assert through_table.mode == "CMYK" and through_table.size == image.size
    assert through_table.tobytes() == expected.tobytes()
    grey = image.convert("L")  # untagged grey goes through the RGB table
    assert (
        convert_to_output(grey, None, output, settings, tables).tobytes()
        == convert_to_output(grey, None, output, settings).tobytes()
    )


def _most_ink(cmyk: Image.Image) -> int:
    packed = np.frombuffer(cmyk.tobytes(), np.uint32)
    return int(total_ink_units(packed, np.empty_like(packed), np.empty_like(packed)).max())


def test_ink_bound_is_the_most_ink_any_colour_takes(
    catalog: Catalog, profiles: ProfileLibrary, tables: ConversionTables
) -> None:
    output, settings = profiles.get("chemical-proof"), ColorSettings()
    image = _every_kind_of_colour()
    cmyk = convert_to_output(image, None, output, settings, tables)
    bound = conversion_ink_bound("RGB", None, output, settings, tables)
    assert bound is not None and _most_ink(cmyk) <= bound
    # Tight: some colour reaches it (the table is every colour's conversion, here summed anew).
    only_this = ConversionTables(tables.directory)  # maps the same file, holds one table
    only_this.prepare(None, output, settings)
    (table,) = only_this._tables.values()
    assert bound == max(_most_ink(Image.frombuffer("CMYK", (4096, 1), table[i : i + 4096]))
                        for i in range(0, table.size, 4096))  # fmt: skip
    assert conversion_ink_bound("L", None, output, settings, tables) == bound  # as sRGB
    assert conversion_ink_bound("CMYK", None, output, settings, tables) is None
    assert conversion_ink_bound("RGB", None, output, settings, None) is None
    # Below the bound, the check still sums every pixel, and finds the same with or without
    # the table; at the bound it cannot find anything.
    request = JobRequest(
        template=catalog.get("iphone-15"),
        artwork_bytes=encode(image.resize((1000, 2000)), "PNG"),
        artwork_name="colours.png",
        pictures=False,
    )
    for percent, expected in ((bound * 100 / 255 - 15, True), (bound * 100 / 255, False)):
        strict = dataclasses.replace(request, checks=CheckConfig(ink_limit_percent=percent))
        reports = [run_job(strict, profiles, t).report for t in (None, tables)]
        ink = [[f for f in r["findings"] if f["code"] == "ink-limit-exceeded"] for r in reports]
        assert ink[0] == ink[1] and bool(ink[0]) == expected


def test_a_table_is_built_once_and_mapped_by_the_next_process(
    profiles: ProfileLibrary, tmp_path: Path
) -> None:
    output = profiles.get("chemical-proof")
    settings = ColorSettings(intent=RenderingIntent.SATURATION)
    ConversionTables(tmp_path).prepare(None, output, settings)
    (table_file,) = tmp_path.glob("*.u32")
    built = table_file.stat().st_mtime_ns
    # Another process (a new object with no memory of the first) maps the same file.
    later = ConversionTables(tmp_path)
    image = _every_kind_of_colour()
    assert (
        convert_to_output(image, None, output, settings, later).tobytes()
        == convert_to_output(image, None, output, settings).tobytes()
    )
    assert table_file.stat().st_mtime_ns == built
    assert list(tmp_path.glob("*.partial")) == []


def test_a_torn_table_file_is_rebuilt(profiles: ProfileLibrary, tmp_path: Path) -> None:
    output = profiles.get("chemical-proof")
    settings = ColorSettings(intent=RenderingIntent.SATURATION)
    ConversionTables(tmp_path).prepare(None, output, settings)
    (table_file,) = tmp_path.glob("*.u32")
    with table_file.open("r+b") as file:
        file.truncate(1000)  # as if a machine died mid-write without the atomic rename
    image = _every_kind_of_colour()
    assert (
        convert_to_output(image, None, output, settings, ConversionTables(tmp_path)).tobytes()
        == convert_to_output(image, None, output, settings).tobytes()
    )
    assert table_file.stat().st_size == 4 << 24


def test_builders_racing_for_one_table_agree(profiles: ProfileLibrary, tmp_path: Path) -> None:
    output = profiles.get("chemical-proof")
    settings = ColorSettings(intent=RenderingIntent.SATURATION, black_point_compensation=False)
    racers = [ConversionTables(tmp_path) for _ in range(2)]
    threads = [
        threading.Thread(target=racer.prepare, args=(None, output, settings)) for racer in racers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(tmp_path.glob("*.u32"))) == 1
    assert list(tmp_path.glob("*.partial")) == []


def test_a_service_builds_a_table_only_for_a_conversion_it_sees_again(
    profiles: ProfileLibrary, tmp_path: Path
) -> None:
    output = profiles.get("chemical-proof")
    settings = ColorSettings(intent=RenderingIntent.ABSOLUTE)
    tables = ConversionTables(tmp_path, build_after_uses=2)
    image = _every_kind_of_colour()
    expected = convert_to_output(image, None, output, settings).tobytes()
    assert convert_to_output(image, None, output, settings, tables).tobytes() == expected
    assert list(tmp_path.glob("*.u32")) == []  # seen once: LittleCMS directly
    assert convert_to_output(image, None, output, settings, tables).tobytes() == expected
    assert len(list(tmp_path.glob("*.u32"))) == 1


@pytest.mark.parametrize(
    ("template_id", "placement"),
    [
        ("iphone-15", Placement()),
        ("iphone-15-clear", Placement(fit="contain", scale=0.8, rotate_deg=7.0)),
    ],
)
def test_threads_and_tables_change_no_output(
    catalog: Catalog,
    profiles: ProfileLibrary,
    tables: ConversionTables,
    template_id: str,
    placement: Placement,
) -> None:
    data = encode(photo((1100, 2100)), "JPEG", quality=90)

    def job(
        threads: int, with_tables: ConversionTables | None
    ) -> tuple[dict[str, object], dict[str, bytes]]:
        request = JobRequest(
            template=catalog.get(template_id),
            placement=placement,
            artwork_bytes=data,
            artwork_name="photo.jpg",
            threads=threads,
        )
        result = run_job(request, profiles, with_tables)
        report = {k: v for k, v in result.report.items() if k != "timings_ms"}
        return report, result.files

    one_thread, one_thread_files = job(1, None)
    two_threads, two_threads_files = job(2, tables)
    assert two_threads == one_thread
    assert two_threads_files.keys() == one_thread_files.keys()
    for name, data_one in one_thread_files.items():
        assert two_threads_files[name] == data_one, name


def test_a_job_past_its_deadline_stops_with_a_typed_error(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    request = JobRequest(
        template=catalog.get("ipad-10"),
        artwork_bytes=encode(photo((2400, 3000)), "JPEG", quality=90),
        artwork_name="photo.jpg",
        deadline_s=0.05,
    )
    with pytest.raises(DeadlineExceeded, match="0 s deadline") as raised:
        run_job(request, profiles)
    assert raised.value.code == "deadline-exceeded"
