"""Roofline numbers per device: memory bandwidth, peak FLOP rate per dtype, kernel floor and dispatch gap.

The timing replay (`harness.timing.replay`) prices shapes no timing table covers from the roofline model of
Williams, Waterman & Patterson (CACM 2009), ``max(flops / peak_flops(dtype), bytes / memory_bandwidth)``, scaled by
a measured efficiency, and never predicts less than the device's kernel floor. Numbers come from two places, in
this order of preference:

1. ``results/timings/<device>/``, measured by ``harness profile`` on the device itself: the ``roofline`` block of
   ``meta.json`` (``copy_gbytes_per_s``: copy bandwidth in gigaBYTES per second, read + write counted;
   ``matmul_tflops``: ``{dtype: TFLOP/s}``; ``kernel_floor_us`` and ``dispatch_gap_us``, defined in
   `kernels.profiler.measure_kernel_model`), and ``matmul.csv``: the device's peak FLOP rate per dtype is the
   *best* rate measured, i.e. the maximum over the meta.json square matmul and every row of the matmul table
   (a few large shapes beat the 8192^3 "peak"). The memory ceiling is not maximised that way: small copies
   that stay in cache beat the memory bandwidth that large tensors see;
2. ``harness/data/devices.yaml``, where every number names its source (H100: measured numbers from
   ``shared/anchors/h100_torch_baselines.json``; CPU: a documented conservative default).

Measured numbers replace catalogue numbers key by key (a dtype the profiler did not measure keeps its catalogue
value), and each number's source is kept for run.json. An unknown kernel floor or dispatch gap is 0.0 (no floor,
no gap), with the source saying "not measured".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, ValidationError, model_validator

from harness.errors import HarnessError, TimingTableError
from harness.provenance import default_timings_root
from harness.timing.table import META_FILE, load_meta, load_table

NOT_MEASURED = "not measured (0: none applied)"
KERNEL_MODEL_KEYS: tuple[str, ...] = ("kernel_floor_us", "dispatch_gap_us")


class _CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_name: str
    memory_gbytes_per_s: PositiveFloat
    memory_source: str
    peak_tflops: dict[str, PositiveFloat] = Field(min_length=1)
    peak_sources: dict[str, str]
    kernel_floor_us: NonNegativeFloat | None = None
    kernel_floor_source: str | None = None
    dispatch_gap_us: NonNegativeFloat | None = None
    dispatch_gap_source: str | None = None

    @model_validator(mode="after")
    def _sourced(self) -> "_CatalogEntry":
        for key in KERNEL_MODEL_KEYS:
            source = getattr(self, key.replace("_us", "_source"))
            if (getattr(self, key) is None) != (source is None or not source.strip()):
                raise ValueError(f"{key} and {key.replace('_us', '_source')} go together (a number names its source)")
        return self


@dataclass(frozen=True)
class DeviceRoofline:
    """The roofline ceilings and the kernel floor/dispatch gap of one device.

    Attributes:
        name: device key (``cpu``, ``h100``), the folder name under ``results/timings/``.
        memory_gbytes_per_s: sustained memory bandwidth, gigabytes (1e9 B) per second.
        peak_tflops: dtype name -> best measured (else catalogue) matmul rate, 1e12 FLOP/s.
        sources: ``"memory"``, each dtype, ``"kernel_floor"`` and ``"dispatch_gap"`` -> where the number comes from.
        kernel_floor_us: least time any kernel takes on this device, launch included (0.0 when unknown); the
            replay never predicts less.
        dispatch_gap_us: time each extra kernel launch adds to a sequence of kernels beyond its own timed run
            (0.0 when unknown); step models add it once per launch.
    """

    name: str
    memory_gbytes_per_s: float
    peak_tflops: Mapping[str, float]
    sources: Mapping[str, str]
    kernel_floor_us: float = 0.0
    dispatch_gap_us: float = 0.0

    @property
    def kernel_floor_ms(self) -> float:
        return self.kernel_floor_us * 1e-3

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


@functools.cache
def catalog_names() -> tuple[str, ...]:
    """The catalogue's device names, sorted (read once per process: scenario validation asks per file)."""
    return tuple(sorted(load_catalog()))


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


def _positive(where: Path, key: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise TimingTableError(f"{where}: roofline.{key}: expected a number {'>=' if allow_zero else '>'} 0, got {value!r}")


def _measured_roofline(folder: Path) -> dict[str, Any]:
    """The ``roofline`` block of ``<folder>/meta.json`` (empty when the folder or the file is absent)."""
    if not (folder / META_FILE).is_file():
        return {}
    roofline = load_meta(folder)["roofline"]
    where = folder / META_FILE
    if roofline.get("copy_gbytes_per_s") is not None:
        _positive(where, "copy_gbytes_per_s", roofline["copy_gbytes_per_s"])
    matmul = roofline.get("matmul_tflops", {})
    if not isinstance(matmul, dict):
        raise TimingTableError(f"{where}: roofline.matmul_tflops: expected {{dtype: TFLOP/s}}, got {matmul!r}")
    for dtype, value in matmul.items():
        _positive(where, f"matmul_tflops.{dtype}", value)
    for key in KERNEL_MODEL_KEYS:
        if roofline.get(key) is not None:
            _positive(where, key, roofline[key], allow_zero=True)
    return roofline


def best_matmul_rates(folder: Path) -> dict[str, tuple[float, str]]:
    """``{dtype: (TFLOP/s, shape)}``: the best rate over the rows of ``<folder>/matmul.csv`` (empty if absent)."""
    path = folder / "matmul.csv"
    if not (path.is_file() and (folder / META_FILE).is_file()):
        return {}
    frame = load_table(path).frame
    best: dict[str, tuple[float, str]] = {}
    for row in frame.itertuples(index=False):
        if row.time_ms_median <= 0:
            continue
        tflops = 2.0 * row.m * row.n * row.k / (row.time_ms_median * 1e-3) / 1e12
        if tflops > best.get(row.dtype, (0.0, ""))[0]:
            best[row.dtype] = (tflops, f"m={row.m}, n={row.n}, k={row.k} ({row.impl})")
    return best


def get_device(name: str, *, timings_root: Path | str | None = None) -> DeviceRoofline:
    """Roofline numbers for device ``name``: measured (meta.json, matmul.csv) over catalogue (devices.yaml).

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
    # relative wording: sources end up in run.json and in product text, never a machine path
    meta_source = f"measured by harness profile ({name}/{META_FILE} roofline)"
    memory = entry.memory_gbytes_per_s if entry else 0.0
    sources = {"memory": entry.memory_source} if entry else {}
    if measured.get("copy_gbytes_per_s"):
        memory, sources["memory"] = float(measured["copy_gbytes_per_s"]), meta_source
    peaks = dict(entry.peak_tflops) if entry else {}
    sources.update(entry.peak_sources if entry else {})
    for dtype, value in measured.get("matmul_tflops", {}).items():
        peaks[dtype], sources[dtype] = float(value), meta_source
    # the peak is the best measured rate: a table row beating the meta.json number (or replacing a catalogue
    # number that nothing here measured) wins
    measured_peaks = {dtype: float(value) for dtype, value in measured.get("matmul_tflops", {}).items()}
    for dtype, (tflops, shape) in best_matmul_rates(root / name).items():
        if tflops > measured_peaks.get(dtype, 0.0):
            peaks[dtype], measured_peaks[dtype] = tflops, tflops
            sources[dtype] = f"best measured rate: {shape} in {name}/matmul.csv (harness profile)"
    kernel_model = {}
    for key in KERNEL_MODEL_KEYS:
        label = key.removesuffix("_us")
        value = measured.get(key)
        if value is not None:
            kernel_model[key], sources[label] = float(value), meta_source
        elif entry is not None and getattr(entry, key) is not None:
            kernel_model[key], sources[label] = float(getattr(entry, key)), str(getattr(entry, f"{label}_source"))
        else:
            kernel_model[key], sources[label] = 0.0, NOT_MEASURED
    return DeviceRoofline(
        name=name, memory_gbytes_per_s=memory, peak_tflops=peaks, sources=sources, **kernel_model
    )
