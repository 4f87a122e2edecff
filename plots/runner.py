"""What `harness figures` does: run each figure's scenarios (cached), draw it, write PNG + CSV + a record.

For each selected figure:

1. run its declared scenarios through ``harness.api.run_scenario_file`` with the profile's overrides (finished
   runs are reused from the run store, so this is cheap when nothing changed);
2. compute the figure's cache key from the run ids, the committed input files, the profile and the code of the
   figure module, of every project module it imports and of the style; if the record on disk has the same key
   and its files exist, skip drawing (unless ``force``);
3. otherwise call ``draw(ctx)`` inside the project style and write ``<out>/<paper>/<id>.png``, ``<id>.csv``
   (the data behind it), for tables ``<id>.table.html``, and ``<id>.json`` (drawn status, verdict, our number,
   provenance).

A figure that fails is recorded as failed (with its error) and the others still run. A draw that returns no
verdict (``FigureOutput.verdict``), or a verdict its own checks contradict (`Verdict.contradictions`), fails too:
every drawn figure says whether it reproduces the paper's claim. Finally the gallery page
``<out>/index.html`` is written from every registered figure's record. Every file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import math
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.files import write_atomic, write_text_atomic
from harness.provenance import CODE_PACKAGES, hash_modules, module_closure, module_file
from plots.registry import FIGURES, FigureOutput, FigureRegistry, FigureSpec
from plots.verdict import Verdict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("quick", "full")
RECORD_VERSION = 2  # bump when the record layout changes; old records then read as stale
_STYLE_FILES = (Path(__file__).with_name("style.py"), Path(__file__).with_name("tables.py"))
#: packages whose modules make a figure's code version (`code_version`)
FIGURE_PACKAGES = ("plots", *CODE_PACKAGES)

# run_scenario_file(path, overrides=(), *, workers, executor, results_root, progress) -> SweepResult
ScenarioRunner = Callable[..., Any]


def default_scenario_runner() -> ScenarioRunner:
    """``harness.api.run_scenario_file`` (imported late: the harness is only needed when a figure runs)."""
    from harness.api import run_scenario_file

    return run_scenario_file


# --------------------------------------------------------------------------------------------------------------
# small pure helpers


def resolve_project_path(path: str) -> Path:
    """A path from a spec: absolute as given, else relative to the repository root (not the working dir)."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_version(spec: FigureSpec) -> str:
    """Hash of the source of the module that defines ``spec.draw`` and of every project module it imports,
    transitively (its helpers, the verdict and style code, the methods it computes with), plus the style files:
    a change to any of them redraws the figure. A draw defined outside the project's packages hashes its own
    source."""
    digest = hashlib.sha256()
    module_version = _figure_module_version(getattr(spec.draw, "__module__", "") or "")
    if module_version is not None:
        digest.update(module_version.encode())
    else:
        try:
            source_file = inspect.getsourcefile(spec.draw)
            digest.update(Path(source_file).read_bytes() if source_file else inspect.getsource(spec.draw).encode())
        except (OSError, TypeError):
            digest.update(spec.draw.__code__.co_code if hasattr(spec.draw, "__code__") else repr(spec.draw).encode())
    for path in _STYLE_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _figure_module_version(module: str) -> str | None:
    """sha256 over ``module`` and the project modules it imports (`harness.provenance.module_closure` with the
    ``plots`` package included), or None for a module outside the project's packages; once per process."""
    if module_file(module, PROJECT_ROOT, FIGURE_PACKAGES) is None:
        return None
    return hash_modules(module_closure((module,), PROJECT_ROOT, FIGURE_PACKAGES), PROJECT_ROOT, FIGURE_PACKAGES)


def cache_key(
    spec: FigureSpec, profile: str, run_ids: Mapping[str, Sequence[str]], input_hashes: Mapping[str, str]
) -> str:
    """The figure's cache key: what went in (runs, inputs, profile overrides) and the code that drew it."""
    payload = {
        "record_version": RECORD_VERSION,
        "id": spec.id,
        "profile": profile,
        "overrides": list(spec.overrides(profile)),
        "run_ids": {path: list(ids) for path, ids in sorted(run_ids.items())},
        "inputs": dict(sorted(input_hashes.items())),
        "code": code_version(spec),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _nested_get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _device_of_point(point: Any) -> str | None:
    device = getattr(getattr(getattr(point, "scenario", None), "cluster", None), "device", None)
    return device if isinstance(device, str) and device else None


def _device_of_info(info: Mapping[str, Any]) -> str | None:
    for device in (
        _nested_get(info, "device"),
        _nested_get(info, "cluster", "device"),
        _nested_get(info, "scenario", "cluster", "device"),
    ):
        if isinstance(device, str) and device:
            return device
    return None


def summarize_sweeps(sweeps: Iterable[Any]) -> dict[str, Any]:
    """Aggregate provenance over the figure's sweeps (``SweepResult``: ``.runs``, and ``.points`` if present).

    Returns, summed over runs (missing keys are skipped, never guessed):

    * ``devices``: from each point's resolved scenario (``points[i].scenario.cluster.device``), else the run's info;
    * ``timing_sources``: prediction counts by source (``info["timing_sources"]``, flat ``{source: n}`` or per op
      ``{op: {source: n}}``, summed over ops); ``timing_sources_recorded`` counts the runs that recorded them
      (an empty mapping means the run consulted no timing table);
    * ``timing_sources_by_op``: ``{op: {source: n}}`` from the replay's own summary
      (``info["timings"]["timing_sources"]``, else ``info["timing_sources_by_op"]``, else a per-op
      ``info["timing_sources"]``);
    * ``time_by_source_ms``: ``{op: {source: ms}}`` of predicted time, where the runs record it;
    * ``missing_table_sets``: ``{table set: [ops priced by the roofline]}`` for runs whose timing-table folder
      did not exist (the set's name only: the reason text names machine paths);
    * ``collective_sources``: ``{op: {source: n}}`` of collectives priced from measured collective tables
      (``info["collective_sources"]``: exact, interpolated, closed_form_fit, closed_form), where runs had them;
    * ``host_load``: ``{"cpus", "load_average_1m_max", "runs"}``: the highest 1-minute load average seen just
      before or after a run, over the ``runs`` that recorded it (run.json ``host_load``), and the most CPUs a run
      could use; empty when none recorded it.
    """
    devices: set[str] = set()
    sources: Counter[str] = Counter()
    by_op: dict[str, Counter[str]] = {}
    time_by_source: dict[str, Counter[str]] = {}
    missing_sets: dict[str, set[str]] = {}
    collectives: dict[str, Counter[str]] = {}
    n_runs = n_reused = n_recorded = 0
    loads: list[float] = []
    cpus: list[int] = []
    for sweep in sweeps:
        for point in getattr(sweep, "points", None) or []:
            if (device := _device_of_point(point)) is not None:
                devices.add(device)
        for record in getattr(sweep, "runs", None) or []:
            n_runs += 1
            n_reused += bool(getattr(record, "reused", False))
            info = getattr(record, "info", None) or {}
            _add_host_load(getattr(record, "host_load", None) or {}, loads, cpus)
            if (device := _device_of_info(info)) is not None:
                devices.add(device)
            counts = _nested_get(info, "timing_sources")
            if isinstance(counts, Mapping):
                n_recorded += 1
                sources.update(_source_counts(counts))
            run_by_op = _per_op(info)
            _add_per_op(by_op, run_by_op)
            _add_per_op(time_by_source, _per_op_mapping(_nested_get(info, "timings", "time_by_source_ms"))
                        or _per_op_mapping(_nested_get(info, "time_by_source_ms")))
            _add_per_op(collectives, _per_op_mapping(info.get("collective_sources")))
            table_set = _nested_get(info, "timings", "table_set")
            if _nested_get(info, "timings", "tables_missing") and isinstance(table_set, str):
                missing_sets.setdefault(table_set, set()).update(
                    op for op, op_counts in run_by_op.items() if op_counts.get("roofline", 0) > 0
                )
    return {
        "devices": sorted(devices),
        "timing_sources": dict(sorted(sources.items())),
        "timing_sources_recorded": n_recorded,
        "timing_sources_by_op": {op: dict(sorted(c.items())) for op, c in sorted(by_op.items())},
        "time_by_source_ms": {op: {s: round(ms, 6) for s, ms in sorted(c.items())}
                              for op, c in sorted(time_by_source.items())},
        "missing_table_sets": {name: sorted(ops) for name, ops in sorted(missing_sets.items())},
        "collective_sources": {op: {s: int(n) for s, n in sorted(c.items())} for op, c in sorted(collectives.items())},
        "runs_total": n_runs,
        "runs_reused": n_reused,
        "host_load": ({"cpus": max(cpus), "load_average_1m_max": max(loads), "runs": len(cpus)} if cpus and loads
                      else {}),
    }


def _add_host_load(host_load: Mapping[str, Any], loads: list[float], cpus: list[int]) -> None:
    """Collect one run's CPU count and its 1-minute load averages before and after (where recorded)."""
    n_cpus = host_load.get("cpus")
    if not isinstance(n_cpus, int) or isinstance(n_cpus, bool):
        return
    cpus.append(n_cpus)
    for key in ("load_average_before", "load_average_after"):
        value = host_load.get(key)
        if isinstance(value, list) and value and isinstance(value[0], int | float) and math.isfinite(value[0]):
            loads.append(float(value[0]))


def _per_op_mapping(value: Any) -> dict[str, dict[str, float]]:
    """``{op: {source: number}}`` if ``value`` has that shape (other entries dropped), else empty."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(op): {str(s): float(n) for s, n in inner.items() if isinstance(n, int | float) and not isinstance(n, bool)}
        for op, inner in value.items()
        if isinstance(inner, Mapping)
    }


def _per_op(info: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    for keys in (("timings", "timing_sources"), ("timing_sources_by_op",), ("timing_sources",)):
        if per_op := _per_op_mapping(_nested_get(info, *keys)):
            return per_op
    return {}


def _add_per_op(total: dict[str, Counter[str]], per_op: Mapping[str, Mapping[str, float]]) -> None:
    for op, inner in per_op.items():
        total.setdefault(op, Counter()).update(inner)


def _source_counts(counts: Mapping[str, Any]) -> Counter[str]:
    """``{source: n}`` or per-op ``{op: {source: n}}`` (the replay's summary) -> ``{source: n}``."""
    total: Counter[str] = Counter()
    for key, value in counts.items():
        if isinstance(value, Mapping):
            total.update(_source_counts(value))
        elif isinstance(value, int | float):
            total[str(key)] += int(value)
    return total


def figure_dir(out_dir: Path, paper: str) -> Path:
    return out_dir / paper


def record_path(out_dir: Path, spec: FigureSpec) -> Path:
    return figure_dir(out_dir, spec.paper) / f"{spec.id}.json"


def read_record(out_dir: Path, spec: FigureSpec) -> dict[str, Any] | None:
    """The JSON record of ``spec`` under ``out_dir``, or None if absent or unreadable."""
    path = record_path(out_dir, spec)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("record_version") == RECORD_VERSION else None


# --------------------------------------------------------------------------------------------------------------
# what a draw function sees


@dataclass
class FigureContext:
    """Passed to ``draw(ctx)``.

    Attributes:
        spec: the figure's spec.
        profile: "quick" or "full".
        out_dir: ``<out>/<paper>/``; ``png_path`` and ``csv_path`` are where the runner writes the outputs.
    """

    spec: FigureSpec
    profile: str
    out_dir: Path
    _sweeps: dict[str, Any] = field(default_factory=dict, repr=False)
    _inputs: dict[str, Path] = field(default_factory=dict, repr=False)

    @property
    def png_path(self) -> Path:
        return self.out_dir / f"{self.spec.id}.png"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / f"{self.spec.id}.csv"

    def run(self, scenario_path: str) -> Any:
        """The SweepResult of a declared scenario (already run with this profile's overrides, cached runs)."""
        if scenario_path not in self._sweeps:
            raise ValueError(
                f"figure {self.spec.id!r} asked for scenario {scenario_path!r}, which its spec does not declare "
                f"(declared: {', '.join(self.spec.scenarios) or 'none'}); add it to `scenarios`"
            )
        return self._sweeps[scenario_path]

    def read_csv(self, input_path: str, **kwargs: Any) -> pd.DataFrame:
        """Read a declared committed input (e.g. measured tables under ``results/fidelity/``)."""
        if input_path not in self._inputs:
            raise ValueError(
                f"figure {self.spec.id!r} read {input_path!r}, which its spec does not declare "
                f"(declared: {', '.join(self.spec.inputs) or 'none'}); add it to `inputs`"
            )
        return pd.read_csv(self._inputs[input_path], **kwargs)

    @property
    def runs(self) -> list[Any]:
        """Every RunRecord behind this figure, in scenario order."""
        return [record for sweep in self._sweeps.values() for record in getattr(sweep, "runs", [])]


# --------------------------------------------------------------------------------------------------------------
# one figure


@dataclass(frozen=True)
class FigureResult:
    """How one figure went: status "ok" (drawn), "cached" (unchanged, not redrawn) or "failed"; its verdict
    status (`plots.verdict.STATUSES`; None when failed)."""

    id: str
    paper: str
    status: str
    wall_s: float
    error: str | None = None
    verdict: str | None = None
    timed_under_load: bool = False  # its verdict rests on times measured while other work shared the CPUs


def timed_under_load(spec: FigureSpec, provenance: Mapping[str, Any] | None) -> bool:
    """Whether ``spec`` measures time and its runs' 1-minute load average exceeded the CPUs they could use."""
    load = (provenance or {}).get("host_load") or {}
    return spec.measures_time and bool(load) and load["load_average_1m_max"] > load["cpus"]


@dataclass(frozen=True)
class FiguresReport:
    results: tuple[FigureResult, ...]
    gallery_path: Path

    @property
    def failed(self) -> list[FigureResult]:
        return [result for result in self.results if result.status == "failed"]


@dataclass(frozen=True)
class RunSettings:
    profile: str = "quick"
    out_dir: Path = Path("results/figures")
    workers: int | None = None  # None: all CPUs for a figure with parallel_runs, else 1; always 1 if it measures time
    executor: str = "local"
    results_root: Path | None = None
    force: bool = False
    progress: bool = True


def _prepare_context(spec: FigureSpec, settings: RunSettings, run_scenario: ScenarioRunner) -> FigureContext:
    ctx = FigureContext(spec=spec, profile=settings.profile, out_dir=figure_dir(settings.out_dir, spec.paper))
    for input_path in spec.inputs:
        resolved = resolve_project_path(input_path)
        if not resolved.is_file():
            raise FileNotFoundError(f"input {input_path!r} of figure {spec.id!r} not found at {resolved}")
        ctx._inputs[input_path] = resolved
    workers = settings.workers
    if spec.measures_time:
        workers = 1  # runs timed side by side would share the cores they are timed on
    elif workers is None:
        from harness.executors import default_workers

        workers = default_workers() if spec.parallel_runs else 1
    for scenario in spec.scenarios:
        ctx._sweeps[scenario] = run_scenario(
            resolve_project_path(scenario),
            spec.overrides(settings.profile),
            workers=workers,
            executor=settings.executor,
            results_root=settings.results_root,
            progress=settings.progress,
        )
    return ctx


def _check_output(spec: FigureSpec, output: Any) -> FigureOutput:
    from matplotlib.figure import Figure

    if not isinstance(output, FigureOutput):
        raise TypeError(f"draw must return a FigureOutput, got {type(output).__name__}")
    if not isinstance(output.data, pd.DataFrame):
        raise TypeError("FigureOutput.data must be a pandas DataFrame (the data behind the figure)")
    if not isinstance(output.ours, str) or not output.ours.strip():
        raise ValueError("FigureOutput.ours must be a non-empty string (our measured value)")
    if spec.kind == "figure" and not isinstance(output.figure, Figure):
        raise TypeError("a 'figure' must return FigureOutput.figure, a matplotlib Figure")
    if spec.kind == "table" and not isinstance(output.table, pd.DataFrame):
        raise TypeError("a 'table' must return FigureOutput.table, a pandas DataFrame")
    check_verdict(output.verdict)
    return output


class VerdictError(ValueError):
    """A draw returned no verdict, or one its own checks contradict."""


def check_verdict(verdict: Any) -> Verdict:
    """``verdict`` if it is a consistent `Verdict`; raises `VerdictError` saying what is wrong otherwise."""
    if verdict is None:
        raise VerdictError(
            "no verdict logic: draw returned no FigureOutput.verdict (use plots.verdict.judge or not_checkable)"
        )
    if not isinstance(verdict, Verdict):
        raise VerdictError(f"FigureOutput.verdict must be a plots.verdict.Verdict, got {type(verdict).__name__}")
    if problems := verdict.contradictions():
        raise VerdictError("verdict contradicted by its own checks: " + "; ".join(problems))
    return verdict


def _jsonable(value: Any) -> Any:
    """Provenance values as JSON (numpy scalars, paths and tuples included)."""
    return json.loads(json.dumps(value, default=lambda item: item.item() if hasattr(item, "item") else str(item)))


def _draw_and_write(spec: FigureSpec, ctx: FigureContext) -> dict[str, Any]:
    """Draw the figure and write its files; returns the record fields that describe the outputs."""
    from plots.style import figure_style, save_png
    from plots.tables import table_figure, table_html

    with figure_style():
        output = _check_output(spec, spec.draw(ctx))
    figure = output.figure if spec.kind == "figure" else table_figure(output.table, spec.title)
    try:
        write_atomic(ctx.png_path, lambda tmp: save_png(figure, tmp))
    finally:
        if "matplotlib.pyplot" in sys.modules:  # a draw function may have used pyplot; free its figure
            sys.modules["matplotlib.pyplot"].close(figure)
    write_atomic(ctx.csv_path, lambda tmp: output.data.to_csv(tmp, index=False))
    files = {"png": ctx.png_path.name, "csv": ctx.csv_path.name}
    if spec.kind == "table":
        html_path = ctx.out_dir / f"{spec.id}.table.html"
        write_text_atomic(html_path, table_html(output.table))
        files["html"] = html_path.name
    return {
        "ours": output.ours.strip(),
        "files": files,
        "extra_provenance": _jsonable(output.provenance),
        "verdict": _jsonable(output.verdict.to_json()),
    }


def _is_fresh(record: dict[str, Any] | None, key: str, out_dir: Path) -> bool:
    if not record or record.get("status") != "ok" or record.get("cache_key") != key:
        return False
    if not isinstance(record.get("verdict"), Mapping):
        return False
    return all((out_dir / name).is_file() for name in (record.get("files") or {}).values())


def render_figure(spec: FigureSpec, settings: RunSettings, run_scenario: ScenarioRunner) -> FigureResult:
    """Run, draw and record one figure; never raises for a failing figure (it is recorded as failed)."""
    start = time.perf_counter()
    paper_dir = figure_dir(settings.out_dir, spec.paper)
    previous = read_record(settings.out_dir, spec)
    record: dict[str, Any] = {
        "record_version": RECORD_VERSION,
        "id": spec.id,
        "paper": spec.paper,
        "kind": spec.kind,
        "profile": settings.profile,
        "overrides": list(spec.overrides(settings.profile)),
    }
    try:
        ctx = _prepare_context(spec, settings, run_scenario)
        run_ids = {
            scenario: [record_.run_id for record_ in getattr(sweep, "runs", [])]
            for scenario, sweep in ctx._sweeps.items()
        }
        inputs = {path: _file_sha256(resolved) for path, resolved in ctx._inputs.items()}
        key = cache_key(spec, settings.profile, run_ids, inputs)
        if not settings.force and _is_fresh(previous, key, paper_dir):
            verdict = _nested_get(previous, "verdict", "status")
            return FigureResult(spec.id, spec.paper, "cached", time.perf_counter() - start, verdict=verdict,
                                timed_under_load=timed_under_load(spec, previous.get("provenance")))
        drawn = _draw_and_write(spec, ctx)
        record.update(
            status="ok",
            error=None,
            cache_key=key,
            ours=drawn["ours"],
            verdict=drawn["verdict"],
            files=drawn["files"],
            provenance={
                "scale": spec.scale_note,
                **summarize_sweeps(ctx._sweeps.values()),
                "run_ids": run_ids,
                "inputs": inputs,
                "extra": drawn["extra_provenance"],
            },
        )
        status, error = "ok", None
    except Exception as err:  # noqa: BLE001 - one figure's failure must not stop the others
        error = f"{type(err).__name__}: {err}"
        record.update(
            status="failed",
            error=error,
            traceback="".join(traceback.format_exception(err)[-6:]),
            verdict=None,
            cache_key=None,
            files={},
            provenance={"scale": spec.scale_note},
        )
        status = "failed"
    wall_s = time.perf_counter() - start
    record.update(wall_s=round(wall_s, 3), drawn_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    write_text_atomic(record_path(settings.out_dir, spec), json.dumps(record, indent=2, sort_keys=True) + "\n")
    return FigureResult(spec.id, spec.paper, status, wall_s, error, _nested_get(record, "verdict", "status"),
                        timed_under_load(spec, record["provenance"]))


# --------------------------------------------------------------------------------------------------------------
# many figures


def _known_ids_hint(registry: FigureRegistry, unknown: Sequence[str]) -> str:
    """Close matches (difflib) among the ids of the paper each unknown name starts with, else the papers' id
    prefixes; `harness list` shows every id."""
    import difflib

    ids = [spec.id for spec in registry]
    close = [m for name in unknown
             for m in difflib.get_close_matches(name, [i for i in ids if i.split(".")[0] == name.split(".")[0]], n=3,
                                                cutoff=0.5)]
    if close:
        return f"did you mean {', '.join(dict.fromkeys(close))}? (`harness list` shows all {len(ids)})"
    prefixes = ", ".join(f"{paper}.*" for paper in registry.papers()) or "none"
    return f"known: {prefixes} (`harness list` shows all {len(ids)})"


def select_figures(
    registry: FigureRegistry, *, paper: str | None = None, only: Sequence[str] = ()
) -> list[FigureSpec]:
    """The specs to render: all, or one paper's, or the listed ids. Unknown names raise `HarnessError`."""
    specs = list(registry)
    if paper is not None:
        papers = registry.papers()
        if paper not in papers:
            raise HarnessError(
                f"--paper {paper!r}: no figures registered for it; papers with figures: {', '.join(papers) or 'none'}"
            )
        specs = [spec for spec in specs if spec.paper == paper]
    if only:
        unknown = [figure_id for figure_id in only if figure_id not in registry]
        if unknown:
            hint = _known_ids_hint(registry, unknown)
            shown = ", ".join(name or "''" for name in unknown)  # an empty id shown as ''
            raise HarnessError(f"--only: unknown figure id(s) {shown}; {hint}")
        wanted = set(only)
        specs = [spec for spec in specs if spec.id in wanted]
        if not specs:
            raise HarnessError(f"--only {', '.join(only)}: none of these belongs to paper {paper!r}")
    return specs


def render_figures(
    specs: Sequence[FigureSpec],
    settings: RunSettings,
    *,
    registry: FigureRegistry | None = None,
    run_scenario: ScenarioRunner | None = None,
) -> FiguresReport:
    """Render ``specs`` (one at a time, progress over figures) and write the gallery of ``registry``.

    Args:
        specs: the figures to render (see `select_figures`).
        settings: profile, output folder, sweep workers/executor, run-store root, force, progress.
        registry: the registry the gallery lists (default `FIGURES`).
        run_scenario: replaces ``harness.api.run_scenario_file`` (tests inject one).
    """
    from tqdm import tqdm

    from plots.gallery import write_gallery

    if settings.profile not in PROFILES:
        raise HarnessError(f"unknown profile {settings.profile!r}; expected one of {', '.join(PROFILES)}")
    runner = run_scenario if run_scenario is not None else (default_scenario_runner() if specs else None)
    results = []
    with tqdm(specs, desc="figures", unit="fig", disable=not settings.progress, file=sys.stderr) as bar:
        for spec in bar:
            bar.set_postfix_str(spec.id)
            result = render_figure(spec, settings, runner)
            results.append(result)
            if settings.progress:
                detail = f": {result.error}" if result.error else ""
                tqdm.write(f"{result.status:>6}  {spec.id}  ({result.wall_s:.1f} s){detail}", file=sys.stderr)
    gallery_path = write_gallery(registry if registry is not None else FIGURES, settings.out_dir)
    return FiguresReport(tuple(results), gallery_path)
