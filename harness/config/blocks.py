"""The top-level blocks of a scenario file (DESIGN.md "Scenario file").

`ScenarioBase` holds the blocks every kind accepts (``seed``, ``workload``, ``sweep``, ``tune``). A block only some
kinds read is declared by those kinds' scenario models, so every other kind refuses it like any unknown key:
``cluster`` and ``timings`` (`DeviceScenario`: kinds that price compute on a device through the timing replay;
``cluster`` holds only ``device`` there), a whole ``cluster`` and ``network`` (`ClusterScenario`: kinds that place
ranks on machines joined by links), ``network`` alone (`NetworkBlock`), ``technique`` (`TechniqueSpec`; the
compressed kinds), ``outputs`` (`OutputsSpec`; ``fault_tolerant_training``), ``failures`` (its own model in
``fault_tolerant_training``).

Units live in key names: ``bandwidth_gbps`` is gigabits per second (1e9 bit/s), ``latency_us`` microseconds,
``mtbf_h`` hours. Unknown keys are errors (``extra="forbid"``); config objects never touch disk or the clock.
A scenario kind subclasses `ScenarioBase`, narrows ``kind`` to a ``Literal`` and gives ``workload`` its own model.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import (BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from harness.config.numbers import plain_numbers


#: Names that become folder names (scenario, device, table set): no path separators, no leading dot.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: the longest device or table-set name (a folder under results/timings/)
SET_NAME_MAX_CHARS = 64


class Strict(BaseModel):
    """Base for every config model: unknown keys rejected, values immutable after validation; no inf/NaN, no
    true/false for a number, no magnitude above 2**53 unless the field has its own bound (`harness.config.numbers`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _plain_numbers(cls, data: Any) -> Any:
        return plain_numbers(cls, data)


class DeviceSpec(Strict):
    """The device whose roofline numbers (and, by default, timing tables) price the compute."""

    device: str = Field(
        "cpu", pattern=NAME_PATTERN, max_length=SET_NAME_MAX_CHARS,
        description="device name; selects timing tables results/timings/<device>/ and its roofline numbers",
    )


class ClusterSpec(DeviceSpec):
    """The machines the ranks run on: nodes x devices_per_node devices of one type."""

    nodes: PositiveInt = Field(1, le=100_000, description="number of machines (at most 100,000)")
    devices_per_node: PositiveInt = Field(
        1, le=1024, description="accelerators (or CPU sockets) per machine (at most 1,024)"
    )

    @property
    def n_devices(self) -> int:
        return self.nodes * self.devices_per_node


#: slowest link a scenario may model, Gbit/s: 1 kbit/s (a 1970s telephone modem; no training traffic crosses slower
#: links). With `MIN_PROTOCOL_EFFICIENCY` the payload rate is at least 10 bit/s, so the largest sizes the kinds
#: allow take a finite time: whole ns far below float's range (`harness.sim.units.MAX_TIME_NS`)
MIN_BANDWIDTH_GBPS = 1e-6
#: least payload per wire byte: one payload byte in a minimum Ethernet frame (64 bytes + 8 preamble + 12 gap) is
#: 1 / 84 = 0.012, the worst framing of a real protocol
MIN_PROTOCOL_EFFICIENCY = 0.01
#: largest one-way latency, microseconds (10 s): above any path a message takes (through a geostationary
#: satellite ~0.25 s, Earth-Moon 1.3 s)
MAX_LATENCY_US = 1e7


def check_min_bandwidth(value: float) -> float:
    """``value`` (Gbit/s, already > 0) unless below `MIN_BANDWIDTH_GBPS`: ValueError("expected ...")."""
    if value < MIN_BANDWIDTH_GBPS:
        raise ValueError(f"expected a number >= {MIN_BANDWIDTH_GBPS:g} (1 kbit/s, the slowest link modelled)")
    return value


class LinkSpec(Strict):
    bandwidth_gbps: PositiveFloat = Field(
        description=f"per-direction bandwidth in gigabits per second (at least {MIN_BANDWIDTH_GBPS:g} = 1 kbit/s, "
        "a 1970s telephone modem)",
    )
    latency_us: NonNegativeFloat = Field(
        le=MAX_LATENCY_US, description="one-way latency per message, microseconds (at most 10 s, above any real "
        "path: through a geostationary satellite ~0.25 s, Earth-Moon 1.3 s)",
    )
    sharing: Literal["fifo", "fair"] = Field("fair", description="how concurrent transfers share one direction")
    protocol_efficiency: float = Field(
        1.0, gt=0.0, le=1.0,
        description="payload bytes per wire byte, so bandwidth_gbps can be entered as configured (the line or "
        "shaper rate): the links carry bandwidth_gbps * protocol_efficiency of payload. E.g. TCP over Ethernet "
        "at MTU 1500: 1448 / 1514 = 0.956 (1448 payload bytes per 1514-byte frame: 1500 MTU + 14 Ethernet header; "
        "52 bytes of IPv4, TCP and timestamp headers inside the MTU). At least 0.01: one payload byte in a "
        "minimum Ethernet frame (64 bytes + 8 preamble + 12 gap) is 1/84 = 0.012, the worst real framing",
    )

    @field_validator("bandwidth_gbps")
    @classmethod
    def _not_below_a_kbit(cls, value: float) -> float:
        return check_min_bandwidth(value)

    @field_validator("protocol_efficiency")
    @classmethod
    def _not_below_worst_framing(cls, value: float) -> float:
        if value < MIN_PROTOCOL_EFFICIENCY:
            raise ValueError(f"expected a number >= {MIN_PROTOCOL_EFFICIENCY:g} (one payload byte in a minimum "
                             "Ethernet frame is 1/84 = 0.012, the worst real framing)")
        return value

    @property
    def payload_gbps(self) -> float:
        """The payload rate the link models use: ``bandwidth_gbps * protocol_efficiency``."""
        return self.bandwidth_gbps * self.protocol_efficiency


class NetworkSpec(Strict):
    intra_node: LinkSpec = Field(
        default_factory=lambda: LinkSpec(bandwidth_gbps=3600.0, latency_us=2.0),
        description="device-to-device link inside a machine (default: NVLink-class, 450 GB/s)",
    )
    inter_node: LinkSpec = Field(
        default_factory=lambda: LinkSpec(bandwidth_gbps=400.0, latency_us=5.0),
        description="per-machine network link (default: one 400 Gbit/s NIC)",
    )
    model: Literal["closed_form", "link_level"] = Field(
        "closed_form", description="alpha-beta closed forms, or the link-level SimPy simulation"
    )


class TimingsSpec(Strict):
    table_set: str | None = Field(None, pattern=NAME_PATTERN, max_length=SET_NAME_MAX_CHARS,
                                  description="results/timings/<table_set>/; defaults to cluster.device")
    outside_grid: Literal["interpolate", "roofline", "error"] = Field(
        "interpolate",
        description="between measured points: interpolate (then roofline outside the grid); "
        "roofline: always use the roofline when no exact hit; error: refuse anything but an exact hit",
    )


class OutputsSpec(Strict):
    """Optional outputs of a run."""

    traces: bool = Field(False, description="put the first replicate's per-failure timeline (one row per failure "
                         "and policy) into run.json as info.timeline; no file is written beside metrics.csv")


class TechniqueSpec(Strict):
    """The technique a run applies: its registry key and parameters."""

    name: str = Field("none", description="technique registry key")
    params: dict[str, Any] = Field(default_factory=dict, description="technique parameters")


class SweepSpec(Strict):
    """Expanded into points: the Cartesian product of ``product`` axes and one joint axis from ``zip``.

    Keys are dotted paths into the scenario (``network.inter_node.bandwidth_gbps``); every ``zip`` list must
    have the same length.
    """

    product: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)


class TuneSpec(Strict):
    """A tuning stage run before the main points (`harness.tune`): for each group of main points (one per distinct
    value of the ``per`` keys) every candidate in ``values`` of ``axis`` is run with ``overrides`` (the tuning
    budget), and the main points run with the candidate whose last ``metric`` value is best.
    """

    axis: str = Field(description="dotted key chosen per group, e.g. workload.optimizer.lr")
    values: list[Any] = Field(description="candidates (the same list, the same budget, for every group)")
    metric: str = Field(description="column of the runs' metrics; its last non-NaN value is compared")
    goal: Literal["min", "max"] = Field("min", description="min or max of the metric is best")
    per: list[str] = Field(default_factory=list,
                           description="dotted keys; one choice per distinct value of them (e.g. workload.model, "
                           "or technique.name in a compressed kind)")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="the tuning runs' budget as dotted keys like --set (e.g. {workload.steps: 300, seed: 1000}); "
        "a seed here makes every main seed share one tuning",
    )


#: The order of a scenario's top-level keys in `harness explain`, the JSON Schema and run.json (DESIGN.md's list).
TOP_LEVEL_ORDER = ("name", "kind", "description", "seed", "cluster", "network", "workload", "technique", "timings",
                   "failures", "outputs", "sweep", "tune")


def in_file_order(mapping: dict[str, Any]) -> dict[str, Any]:
    """``mapping`` with the keys of `TOP_LEVEL_ORDER` first, in that order, then any others as they came."""
    rank = {key: i for i, key in enumerate(TOP_LEVEL_ORDER)}
    return dict(sorted(mapping.items(), key=lambda item: rank.get(item[0], len(rank))))


class ScenarioBase(Strict):
    """Fields common to every scenario kind. Subclasses set ``kind: Literal[...]`` and ``workload``, and declare
    the blocks only they read (``cluster``, ``network``, ``timings``, ``technique``, ``failures``, ``outputs``:
    `DeviceScenario`, `ClusterScenario`, `NetworkBlock` or their own fields), which every other kind then refuses."""

    #: the order of the top-level keys in explain, the schema, run.json and validation problems
    key_order: ClassVar[tuple[str, ...]] = TOP_LEVEL_ORDER

    name: str = Field(pattern=NAME_PATTERN, max_length=100,
                      description="folder name under results/runs/ (at most 100 characters)")
    kind: str
    description: str = Field("", max_length=2000)
    seed: int = Field(0, ge=0)
    workload: Strict
    sweep: SweepSpec | None = None
    # Not part of the run identity (excluded from every dump, hence from the run-id and from sweep points): a
    # tuned run is identified by the value the stage chose, like a run with that value set by hand.
    tune: TuneSpec | None = Field(None, exclude=True, description="choose one key per group by a small tuning "
                                  "sweep before the main points (harness.tune)")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """The kind's schema with its top-level keys in `TOP_LEVEL_ORDER` (fields come in base-class order, which
        would put a mixin's ``network`` first), so `harness explain` and `harness schema` read like a file."""
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        if "properties" in resolved:
            resolved["properties"] = in_file_order(resolved["properties"])
        return schema

    @property
    def source_file(self) -> str | None:
        """The file this scenario was loaded from (`with_source`), or None. Problems found after loading (the tune
        stage's metric) name it, like the loader's lines."""
        return self.__dict__.get(_SOURCE_KEY)

    def with_source(self, source: str) -> Self:
        """A copy that remembers the file it came from (the loader calls it). The file is not a field: it is in no
        dump and no run-id, and not a private attribute either, which pydantic would compare in ``==``."""
        copy = self.model_copy()
        object.__setattr__(copy, _SOURCE_KEY, source)
        return copy


_SOURCE_KEY = "_scenario_source"


class NetworkBlock(Strict):
    """Mixin of the kinds that time messages on links: the ``network`` block."""

    network: NetworkSpec = Field(default_factory=NetworkSpec)


class DeviceScenario(ScenarioBase):
    """A kind that prices compute on one device type through the timing replay (`harness.timing.replay`):
    ``cluster.device`` (its roofline numbers) and ``timings`` (which table set, what to do outside its grid)."""

    cluster: DeviceSpec = Field(default_factory=DeviceSpec)
    timings: TimingsSpec = Field(default_factory=TimingsSpec)

    @property
    def table_set(self) -> str:
        return self.timings.table_set or self.cluster.device


class ClusterScenario(DeviceScenario, NetworkBlock):
    """A kind that places ranks on ``cluster.nodes`` x ``cluster.devices_per_node`` devices joined by ``network``."""

    cluster: ClusterSpec = Field(default_factory=ClusterSpec)


def table_set_of(scenario: ScenarioBase) -> str | None:
    """The timing-table set a scenario's runs read (part of their identity), or None for a kind that reads none."""
    return scenario.table_set if isinstance(scenario, DeviceScenario) else None
