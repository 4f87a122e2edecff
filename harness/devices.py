"""Roofline numbers per device: memory bandwidth and peak FLOP rate per dtype.

The timing replay falls back to ``time >= max(flops / peak_flops(dtype), bytes / memory_bandwidth)`` (the roofline
model of Williams, Waterman & Patterson, CACM 2009) where no timing table covers a shape. Numbers come from two
places, in this order of preference:

1. the ``roofline`` block of ``results/timings/<device>/meta.json``, measured by ``harness profile`` on the device
   itself (``copy_gbytes_per_s``: copy bandwidth in gigaBYTES per second, read + write counted; ``matmul_tflops``:
   ``{dtype: TFLOP/s}``);
2. ``harness/data/devices.yaml``, where every number names its source (H100: measured numbers from
   ``shared/anchors/h100_torch_baselines.json``; CPU: a documented conservative default).

Measured numbers replace catalogue numbers key by key (a dtype the profiler did not measure keeps its catalogue
value), and each number's source is kept for run.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from harness.errors import HarnessError, TimingTableError
from harness.provenance import default_timings_root
from harness.timing.table import META_FILE, load_meta


class _CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_name: str
    memory_gbytes_per_s: PositiveFloat
    memory_source: str
    peak_tflops: dict[str, PositiveFloat] = Field(min_length=1)
    peak_sources: dict[str, str]


@dataclass(frozen=True)
class DeviceRoofline:
    """The two roofline ceilings of one device.

    Attributes:
        name: device key (``cpu``, ``h100``), the folder name under ``results/timings/``.
        memory_gbytes_per_s: sustained memory bandwidth, gigabytes (1e9 B) per second.
        peak_tflops: dtype name -> sustained matmul rate, 1e12 FLOP/s.
        sources: ``"memory"`` and each dtype -> where the number comes from.
    """

    name: str
    memory_gbytes_per_s: float
    peak_tflops: Mapping[str, float]
    sources: Mapping[str, str]

    def peak_flops_per_s(self, dtype: str) -> float:
        try:
            return self.peak_tflops[dtype] * 1e12
        except KeyError:
            known = ", ".join(sorted(self.peak_tflops))
            raise HarnessError(f"device {self.name!r} has no peak FLOP rate for dtype {dtype!r}; known: {known}") from None

    def roofline_time_ms(self, flops: float, bytes_moved: float, dtype: str) -> float:
        """Lower bound on run time: the slower of compute at peak and memory traffic at full bandwidth."""
        compute_s = flops / self.peak_flops_per_s(dtype) if flops > 0 else 0.0
        memory_s = bytes_moved / (self.memory_gbytes_per_s * 1e9)
        return 1e3 * max(compute_s, memory_s)


def load_catalog() -> dict[str, _CatalogEntry]:
    """The device catalogue ``harness/data/devices.yaml``, validated."""
    text = resources.files("harness").joinpath("data/devices.yaml").read_text()
    raw = yaml.safe_load(text) or {}
    catalog = {}
    for name, entry in raw.items():
        try:
            catalog[name] = _CatalogEntry.model_validate(entry)
        except ValidationError as err:
            raise HarnessError(f"harness/data/devices.yaml: {name}: {err}") from None
    return catalog


def _measured_roofline(folder: Path) -> dict[str, Any]:
    """The ``roofline`` block of ``<folder>/meta.json`` (empty when the folder or the file is absent)."""
    if not (folder / META_FILE).is_file():
        return {}
    roofline = load_meta(folder)["roofline"]
    where = folder / META_FILE
    copy = roofline.get("copy_gbytes_per_s")
    if copy is not None and not (isinstance(copy, int | float) and copy > 0):
        raise TimingTableError(f"{where}: roofline.copy_gbytes_per_s: expected a number > 0, got {copy!r}")
    matmul = roofline.get("matmul_tflops", {})
    if not isinstance(matmul, dict):
        raise TimingTableError(f"{where}: roofline.matmul_tflops: expected {{dtype: TFLOP/s}}, got {matmul!r}")
    for dtype, value in matmul.items():
        if not (isinstance(value, int | float) and value > 0):
            raise TimingTableError(f"{where}: roofline.matmul_tflops.{dtype}: expected a number > 0, got {value!r}")
    return roofline


def get_device(name: str, *, timings_root: Path | str | None = None) -> DeviceRoofline:
    """Roofline numbers for device ``name``: measured (meta.json) over catalogue (devices.yaml).

    Raises:
        HarnessError: the device is neither in the catalogue nor has a measured roofline; lists the known ones.
    """
    root = Path(timings_root) if timings_root is not None else default_timings_root()
    catalog = load_catalog()
    measured = _measured_roofline(root / name)
    entry = catalog.get(name)
    if entry is None and not (measured.get("copy_gbytes_per_s") and measured.get("matmul_tflops")):
        raise HarnessError(
            f"unknown device {name!r}: not in harness/data/devices.yaml and no measured roofline in "
            f"{root / name / META_FILE}; known devices: {', '.join(sorted(catalog))}"
        )
    meta_source = f"measured by harness profile ({root / name / META_FILE})"
    memory = entry.memory_gbytes_per_s if entry else 0.0
    sources = {"memory": entry.memory_source} if entry else {}
    if measured.get("copy_gbytes_per_s"):
        memory, sources["memory"] = float(measured["copy_gbytes_per_s"]), meta_source
    peaks = dict(entry.peak_tflops) if entry else {}
    sources.update(entry.peak_sources if entry else {})
    for dtype, value in measured.get("matmul_tflops", {}).items():
        peaks[dtype], sources[dtype] = float(value), meta_source
    return DeviceRoofline(name=name, memory_gbytes_per_s=memory, peak_tflops=peaks, sources=sources)
