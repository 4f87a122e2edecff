"""The figure registry: one `FigureSpec` per paper figure or table, with the function that draws it.

Every id comes from the project's checklist of paper figures (``plots/figure_checklist.csv``, a copy of the id
tables of ``shared/FIGURES.md``); ids of the harness's own figures start with ``harness.``. A figure module in
``plots/papers/`` registers its figures with the decorator::

    @register_figure(
        id="harness.collective_time_vs_size", paper="harness", kind="figure",
        title="Collective time vs message size", caption="...", claim="...",
        scenarios=("scenarios/figures/collective_vs_size.yaml",),
        scale_note="8-64 simulated ranks; no reduction",
    )
    def draw(ctx: FigureContext) -> FigureOutput:
        result = ctx.run("scenarios/figures/collective_vs_size.yaml")
        ...

`harness figures` (``plots.runner``) runs the declared scenarios through the harness run store (cached), calls
``draw``, and writes PNG + CSV + a JSON record per figure, then the gallery page (``plots.gallery``). ``draw`` must
return a `plots.verdict.Verdict` (``FigureOutput.verdict``); a figure without one is recorded as failed.

A checklist entry that cannot be rebuilt (its content is unknown, it needs data we cannot have) is declared with
``register_missing(id, reason)`` instead of a placeholder figure; the gallery lists it as "not reconstructable".

None of the ten papers' full texts could be read (FIGURES.md), so the caption shown for every paper figure says so
(`FigureSpec.full_caption`) unless the spec sets ``paper_text_read=True``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from plots.verdict import Verdict

if TYPE_CHECKING:  # matplotlib is imported only where a figure is drawn
    from matplotlib.figure import Figure

    from plots.runner import FigureContext

KINDS = ("figure", "table")

# Paper key -> heading in the gallery. The order here is the order of the gallery's sections.
PAPERS: Mapping[str, str] = {
    "harness": "Harness: simulator checks (this project)",
    "moc": "MoC: Mixture-of-Channels (arXiv 2511.09323)",
    "arctopk": "ARC-Top-K: All-Reduce-compatible Top-K compressor (arXiv 2510.26709)",
    "misa": "MISA: module-wise importance sampling (arXiv 2511.00056)",
    "mecefo": "MeCeFO: fault-tolerant optimization (arXiv 2510.16415)",
    "greedylore": "GreedyLore: greedy low-rank gradient compression (arXiv 2507.08784)",
    "chelsea": "Chelsea: online KV-cache clustering (arXiv 2506.11418)",
    "ractd": "RACTD: reward-aware consistency trajectory distillation (arXiv 2506.07822)",
    "tahquant": "TAH-Quant: tile-wise adaptive Hadamard quantization (arXiv 2506.01352)",
    "frb": "FRB pair cascade: ms truncation of fast radio bursts (arXiv 2505.14413)",
    "battery": "Battery FFR: performance-aware scheduling of modular batteries (arXiv 2504.03150)",
}

# Papers whose figures are reconstructions (FIGURES.md: "None of the ten full texts could be read").
NOT_READ_NOTE = (
    "Reconstruction: the paper's full text could not be read; this {kind} is rebuilt from its abstract, public "
    "code and secondary sources (checklist confidence: {confidence})."
)

CHECKLIST_PATH = Path(__file__).with_name("figure_checklist.csv")
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*\.[a-z0-9][a-z0-9_]*$")
_OVERRIDE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=.*$")


@dataclass(frozen=True)
class ChecklistEntry:
    """One row of the checklist of paper figures (from shared/FIGURES.md)."""

    id: str
    paper: str
    kind: str
    confidence: str
    shows: str
    claim: str
    plan: str


@lru_cache(maxsize=1)
def load_checklist() -> dict[str, ChecklistEntry]:
    """The checklist of every paper figure/table id, keyed by id (118 entries, none for ``harness``)."""
    with CHECKLIST_PATH.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: ChecklistEntry(**row) for row in csv.DictReader(handle)}


@dataclass
class FigureOutput:
    """What a draw function returns.

    Attributes:
        data: the tidy DataFrame behind the plot; written as ``<fig-id>.csv``.
        figure: the matplotlib Figure (required for kind "figure").
        table: the DataFrame shown (required for kind "table"); rendered as PNG and as an HTML table.
        ours: our measured value, a short string shown beside the paper's claim (e.g. "max |Δ| 0.0 %").
        provenance: extra provenance to show (merged with what the runner aggregates from the runs' info).
        verdict: the comparison with the paper's claim, computed from ``data`` (`plots.verdict`). Required: the
            runner records a figure without one, or with one its own checks contradict, as failed.
    """

    data: pd.DataFrame
    ours: str
    figure: Figure | None = None
    table: pd.DataFrame | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None


DrawFunction = Callable[["FigureContext"], FigureOutput]


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure or table.

    Attributes:
        id: stable id from the checklist (``<paper>.<name>``), e.g. ``arctopk.fig2``.
        paper: a key of `PAPERS`; must equal the id's prefix.
        kind: "figure" or "table" (must match the checklist for paper figures).
        title: a short title.
        caption: what the figure shows and how we produced it.
        claim: the paper's claim (a number or sentence), or "—" when the paper states none.
        scale_note: the scale we ran at, stated plainly (reduced-scale substitutes say so).
        draw: ``draw(ctx) -> FigureOutput``.
        scenarios: scenario files (relative to the repository root) the figure runs through ``ctx.run``.
        inputs: committed data files (e.g. ``results/fidelity/*.csv``) the figure reads through
            ``ctx.read_csv``; their content is part of the figure's cache key.
        quick_overrides / full_overrides: ``--set``-style ``key.path=value`` overrides per profile.
        computed: False for static diagrams or paper tables rendered without computation (shown as such).
        paper_text_read: True only if the paper's full text was read (then no reconstruction note).
        parallel_runs: True when the figure's runs are independent and nothing it or another figure reads from
            them is a measured wall time: `harness figures` then runs them on every available CPU unless
            ``--workers`` says otherwise (figures that time code keep one run at a time, so runs do not share
            the cores they are timed on).
        measures_time: True when the verdict or the headline number rests on a wall time measured in the
            figure's own runs on this machine (a decode step, a solve, an action). Its runs always go one at a
            time, whatever ``--workers`` says, and the gallery warns when other work shared the CPUs around them.
    """

    id: str
    paper: str
    kind: str
    title: str
    caption: str
    claim: str
    scale_note: str
    draw: DrawFunction
    scenarios: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    quick_overrides: tuple[str, ...] = ()
    full_overrides: tuple[str, ...] = ()
    computed: bool = True
    paper_text_read: bool = False
    parallel_runs: bool = False
    measures_time: bool = False

    def __post_init__(self) -> None:
        # tuples, so a list passed by a caller cannot change a frozen spec later
        for name in ("scenarios", "inputs", "quick_overrides", "full_overrides"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"figure {self.id!r}: {name} must be a sequence of strings, got one string")
            object.__setattr__(self, name, tuple(value))
        problems = list(_spec_problems(self))
        if problems:
            raise ValueError(f"figure {self.id!r}: " + "; ".join(problems))

    def overrides(self, profile: str) -> tuple[str, ...]:
        """The ``--set`` overrides of ``profile`` ("quick" or "full")."""
        if profile == "quick":
            return self.quick_overrides
        if profile == "full":
            return self.full_overrides
        raise ValueError(f"unknown profile {profile!r}; expected 'quick' or 'full'")

    @property
    def checklist(self) -> ChecklistEntry | None:
        return load_checklist().get(self.id)

    @property
    def full_caption(self) -> str:
        """The caption as shown: the reconstruction note (paper figures), the caption, the scale."""
        parts = []
        if self.paper != "harness" and not self.paper_text_read:
            confidence = self.checklist.confidence if self.checklist else "unknown"
            parts.append(NOT_READ_NOTE.format(kind=self.kind, confidence=confidence))
        if not self.computed:
            parts.append("Static: drawn from definitions, no computation.")
        parts.append(self.caption.strip())
        parts.append(f"Scale: {self.scale_note.strip()}")
        return " ".join(parts)


def _spec_problems(spec: FigureSpec) -> Iterator[str]:
    if not _ID_PATTERN.match(spec.id or ""):
        yield "id must look like '<paper>.<name>' in lower case (letters, digits, '_')"
    if spec.paper not in PAPERS:
        yield f"unknown paper {spec.paper!r}; known: {', '.join(PAPERS)}"
    elif not spec.id.startswith(f"{spec.paper}."):
        yield f"id must start with its paper, '{spec.paper}.'"
    if spec.kind not in KINDS:
        yield f"unknown kind {spec.kind!r}; expected one of {', '.join(KINDS)}"
    for name in ("title", "caption", "claim", "scale_note"):
        if not isinstance(getattr(spec, name), str) or not getattr(spec, name).strip():
            yield f"{name} must be a non-empty string (use '—' for a claim the paper does not make)"
    if spec.measures_time and spec.parallel_runs:
        yield "a figure that measures time cannot have parallel_runs: its runs would share the cores they are timed on"
    if not callable(spec.draw):
        yield "draw must be a function draw(ctx) -> FigureOutput"
    for name in ("scenarios", "inputs", "quick_overrides", "full_overrides"):
        if not all(isinstance(item, str) and item for item in getattr(spec, name)):
            yield f"{name} must hold non-empty strings"
    for override in (*spec.quick_overrides, *spec.full_overrides):
        if isinstance(override, str) and not _OVERRIDE_PATTERN.match(override):
            yield f"override {override!r} must look like 'key.path=value'"
    if spec.paper in PAPERS and spec.paper != "harness":
        entry = load_checklist().get(spec.id)
        if entry is None:
            yield (
                f"id is not in the figure checklist ({CHECKLIST_PATH.name}, from shared/FIGURES.md); "
                "paper figures must use the checklist's stable ids"
            )
        elif spec.kind in KINDS and entry.kind != spec.kind:
            yield f"kind {spec.kind!r} differs from the checklist's {entry.kind!r}"


@dataclass(frozen=True)
class MissingEntry:
    """A checklist entry we do not draw, and why (e.g. "the paper's cells are not known to any source we read")."""

    id: str
    reason: str

    @property
    def checklist(self) -> ChecklistEntry:
        return load_checklist()[self.id]

    @property
    def paper(self) -> str:
        return self.checklist.paper


class FigureRegistry:
    """Figure id -> `FigureSpec`, plus the checklist ids declared not reconstructable (`add_missing`).

    Registering an id twice (as a figure or as missing) raises; an unknown id lists the known ones.
    """

    def __init__(self) -> None:
        self._specs: dict[str, FigureSpec] = {}
        self._missing: dict[str, MissingEntry] = {}

    def add(self, spec: FigureSpec) -> FigureSpec:
        if not isinstance(spec, FigureSpec):
            raise TypeError(f"expected a FigureSpec, got {type(spec).__name__}")
        if spec.id in self._specs:
            raise ValueError(f"figure {spec.id!r} is registered twice")
        if spec.id in self._missing:
            raise ValueError(f"figure {spec.id!r} is also declared not reconstructable; keep one of the two")
        self._specs[spec.id] = spec
        return spec

    def add_missing(self, figure_id: str, reason: str) -> MissingEntry:
        """Declare checklist entry ``figure_id`` not reconstructable, with the ``reason`` shown in the gallery."""
        if figure_id not in load_checklist():
            raise ValueError(f"{figure_id!r} is not in the figure checklist ({CHECKLIST_PATH.name})")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{figure_id!r}: a not-reconstructable entry needs its reason")
        if figure_id in self._specs:
            raise ValueError(f"{figure_id!r} is registered as a figure; it cannot also be not reconstructable")
        if figure_id in self._missing:
            raise ValueError(f"{figure_id!r} is declared not reconstructable twice")
        entry = self._missing[figure_id] = MissingEntry(figure_id, reason.strip())
        return entry

    def missing(self, paper: str | None = None) -> list[MissingEntry]:
        """The entries declared not reconstructable (of ``paper``, or all), by id."""
        return [entry for _, entry in sorted(self._missing.items()) if paper is None or entry.paper == paper]

    def unregistered(self, paper: str | None = None) -> list[ChecklistEntry]:
        """Checklist entries with nothing registered: neither a figure nor a not-reconstructable reason."""
        return [
            entry
            for figure_id, entry in load_checklist().items()
            if figure_id not in self._specs and figure_id not in self._missing
            and (paper is None or entry.paper == paper)
        ]

    def get(self, figure_id: str) -> FigureSpec:
        try:
            return self._specs[figure_id]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "(none)"
            raise KeyError(f"unknown figure {figure_id!r}; known: {known}") from None

    def __contains__(self, figure_id: object) -> bool:
        return figure_id in self._specs

    def __iter__(self) -> Iterator[FigureSpec]:
        """Specs in gallery order: by paper (the order of `PAPERS`), then by id."""
        order = {paper: index for index, paper in enumerate(PAPERS)}
        return iter(sorted(self._specs.values(), key=lambda spec: (order[spec.paper], spec.id)))

    def __len__(self) -> int:
        return len(self._specs)

    def papers(self) -> list[str]:
        """Papers with at least one registered figure, in gallery order."""
        present = {spec.paper for spec in self._specs.values()}
        return [paper for paper in PAPERS if paper in present]


# The project's figures; `plots.papers.load_all()` imports every figure module, which fills it.
FIGURES = FigureRegistry()


def register_figure(
    *,
    id: str,  # noqa: A002 - the field is called id everywhere else too
    paper: str,
    kind: str,
    title: str,
    caption: str,
    claim: str,
    scale_note: str,
    scenarios: tuple[str, ...] | list[str] = (),
    inputs: tuple[str, ...] | list[str] = (),
    quick_overrides: tuple[str, ...] | list[str] = (),
    full_overrides: tuple[str, ...] | list[str] = (),
    computed: bool = True,
    paper_text_read: bool = False,
    parallel_runs: bool = False,
    measures_time: bool = False,
    registry: FigureRegistry | None = None,
) -> Callable[[DrawFunction], DrawFunction]:
    """Decorator: register the decorated ``draw(ctx) -> FigureOutput`` as figure ``id``.

    Registers into `FIGURES` unless ``registry`` is given (tests pass their own). Returns ``draw`` unchanged.
    Raises ValueError on a duplicate id, an unknown paper or kind, an id missing from the checklist, or an
    empty caption/claim/scale note.
    """

    def decorate(draw: DrawFunction) -> DrawFunction:
        spec = FigureSpec(
            id=id,
            paper=paper,
            kind=kind,
            title=title,
            caption=caption,
            claim=claim,
            scale_note=scale_note,
            draw=draw,
            scenarios=tuple(scenarios),
            inputs=tuple(inputs),
            quick_overrides=tuple(quick_overrides),
            full_overrides=tuple(full_overrides),
            computed=computed,
            paper_text_read=paper_text_read,
            parallel_runs=parallel_runs,
            measures_time=measures_time,
        )
        (FIGURES if registry is None else registry).add(spec)
        return draw

    return decorate


def register_missing(figure_id: str, reason: str, *, registry: FigureRegistry | None = None) -> MissingEntry:
    """Declare checklist entry ``figure_id`` not reconstructable, with the ``reason`` (shown in the gallery).

    Use this instead of registering a placeholder figure. Registers into `FIGURES` unless ``registry`` is given.
    """
    return (FIGURES if registry is None else registry).add_missing(figure_id, reason)
