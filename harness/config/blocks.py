"""The top-level blocks every scenario file shares (DESIGN.md "Scenario file").

Units live in key names: ``bandwidth_gbps`` is gigabits per second (1e9 bit/s), ``latency_us`` microseconds,
``mtbf_h`` hours. Unknown keys are errors (``extra="forbid"``); config objects never touch disk or the clock.
A scenario kind subclasses `ScenarioBase`, narrows ``kind`` to a ``Literal`` and gives ``workload`` its own model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, NonNegativeFloat


class Strict(BaseModel):
    """Base for every config model: unknown keys rejected, values immutable after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSpec(Strict):
    nodes: PositiveInt = Field(1, description="number of machines")
    devices_per_node: PositiveInt = Field(1, description="accelerators (or CPU sockets) per machine")
    device: str = Field(
        "cpu",
        description="device name; selects timing tables results/timings/<device>/ and its roofline numbers",
    )

    @property
    def n_devices(self) -> int:
        return self.nodes * self.devices_per_node


class LinkSpec(Strict):
    bandwidth_gbps: PositiveFloat = Field(description="per-direction bandwidth in gigabits per second")
    latency_us: NonNegativeFloat = Field(description="one-way latency per message, microseconds")
    sharing: Literal["fifo", "fair"] = Field("fair", description="how concurrent transfers share one direction")


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
    table_set: str | None = Field(None, description="results/timings/<table_set>/; defaults to cluster.device")
    outside_grid: Literal["interpolate", "roofline", "error"] = Field(
        "interpolate",
        description="between measured points: interpolate (then roofline outside the grid); "
        "roofline: always use the roofline when no exact hit; error: refuse anything but an exact hit",
    )


class FailuresSpec(Strict):
    enabled: bool = False
    mtbf_h: PositiveFloat | None = Field(None, description="mean time between failures per device, hours")
    restart_min: NonNegativeFloat = Field(20.0, description="time to restart after a failure, minutes")


class GridSpec(Strict):
    enabled: bool = False
    signal: str | None = Field(None, description="path of a grid-frequency trace CSV")


class OutputsSpec(Strict):
    traces: bool = Field(False, description="write per-event traces beside metrics.csv")


class TechniqueSpec(Strict):
    name: str = Field("none", description="technique registry key")
    params: dict[str, Any] = Field(default_factory=dict, description="technique parameters")


class SweepSpec(Strict):
    """Expanded into points: the Cartesian product of ``product`` axes and one joint axis from ``zip``.

    Keys are dotted paths into the scenario (``network.inter_node.bandwidth_gbps``); every ``zip`` list must
    have the same length.
    """

    product: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)


class ScenarioBase(Strict):
    """Fields common to every scenario kind. Subclasses set ``kind: Literal[...]`` and ``workload``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="folder name under results/runs/")
    kind: str
    description: str = ""
    seed: int = Field(0, ge=0)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    workload: Strict
    technique: TechniqueSpec = Field(default_factory=TechniqueSpec)
    timings: TimingsSpec = Field(default_factory=TimingsSpec)
    failures: FailuresSpec = Field(default_factory=FailuresSpec)
    grid: GridSpec = Field(default_factory=GridSpec)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    sweep: SweepSpec | None = None

    @property
    def table_set(self) -> str:
        return self.timings.table_set or self.cluster.device
