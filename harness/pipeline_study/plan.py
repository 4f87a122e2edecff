"""The pipeline study's plan file and the configuration one run's stage processes get.

A plan (``harness/pipeline_study/plans/pipeline_fidelity.yaml``) names the model, the micro-batching, the steps to warm up
and to time, and a list of runs: stages, schedule, forward / backward codec (the ``pipeline_step`` kind's
`harness.workloads.pipeline_step.CodecSpec`, so a codec the simulator refuses is refused here too) and the
networks to run on (``loopback`` or ``<rate>mbit``: a `harness.fidelity.netns.StarNetwork` at that rate).
`load_plan` turns every problem into one ``file: key.path: ...`` line (`harness.errors.ScenarioError`, exit 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationError, field_validator, model_validator

from harness.config.blocks import Strict
from harness.errors import ScenarioError
from harness.models.llama import LlamaDims, check_rotary_heads
from harness.workloads.pipeline_step import CodecSpec, method_label

NETWORK_PATTERN = re.compile(r"^(loopback|(\d+(?:\.\d+)?)mbit)$")


def network_rate_mbit(network: str) -> float | None:
    """The configured rate of a network name (``"300mbit"`` -> 300.0); None for ``loopback``."""
    match = NETWORK_PATTERN.match(network)
    if match is None:
        raise ValueError(f"expected 'loopback' or '<rate>mbit', got {network!r}")
    return None if match.group(2) is None else float(match.group(2))


class ModelSpec(Strict):
    """`methods.models.gpt.TinyLlama`'s size (fused q/k/v, SwiGLU, untied head)."""

    d_model: PositiveInt = Field(256, le=8192, description="hidden size")
    d_ff: PositiveInt = Field(768, le=32768, description="SwiGLU width")
    n_heads: PositiveInt = Field(8, le=256, description="attention heads")
    n_layers: PositiveInt = Field(4, le=64, description="blocks (split evenly over the stages)")
    vocab_size: PositiveInt = Field(1024, le=1 << 20, description="vocabulary")

    @model_validator(mode="after")
    def _heads(self) -> ModelSpec:
        check_rotary_heads(self.d_model, self.n_heads)
        return self

    def dims(self) -> LlamaDims:
        return LlamaDims(d_model=self.d_model, d_ff=self.d_ff, n_heads=self.n_heads, n_layers=self.n_layers,
                         vocab_size=self.vocab_size, fused_qkv=True)


class RunSpec(Strict):
    """One pipelined configuration, run on each of ``networks``."""

    stages: int = Field(2, ge=2, le=4, description="pipeline stages, one process each (2..4)")
    schedule: Literal["gpipe", "1f1b"] = Field("gpipe", description="pipeline schedule")
    forward: CodecSpec = Field(default_factory=CodecSpec, description="codec of activations sent forward")
    backward: CodecSpec = Field(default_factory=CodecSpec, description="codec of gradients sent backward")
    networks: list[str] = Field(min_length=1, description="'loopback' and/or '<rate>mbit' (e.g. 100mbit)")

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for name in value:
            network_rate_mbit(name)
        if len(set(value)) != len(value):
            raise ValueError(f"a network is listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _codecs(self) -> RunSpec:
        if self.backward.name in ("aqsgd", "tahquant"):
            raise ValueError(f"backward.name: {self.backward.name} is a forward-activation codec; gradients use "
                             "none, fixpoint, uniform_tensor or uniform_tile")
        return self

    @property
    def method(self) -> str:
        return method_label(self.forward, self.backward)


class StudyPlan(Strict):
    """The whole study: shared settings and the runs."""

    model: ModelSpec = Field(default_factory=ModelSpec)
    micro_batch: PositiveInt = Field(2, le=64, description="sequences per micro-batch")
    seq_len: PositiveInt = Field(64, le=4096, description="tokens per sequence")
    n_micro_batches: PositiveInt = Field(4, le=64, description="micro-batches per step")
    warmup_steps: int = Field(3, ge=2, le=100, description="steps before timing (>= 2: AQ-SGD's caches fill in "
                              "step 1, sender/receiver agreement is checked on these steps)")
    measured_steps: PositiveInt = Field(8, le=1000, description="timed steps (median reported)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="model and data seed")
    lr: PositiveFloat = Field(1e-3, le=1.0, description="AdamW learning rate")
    mtu_bytes: int = Field(1500, ge=576, le=9000, description="MTU of the namespace links")
    timeout_s: PositiveFloat = Field(300.0, le=3600, description="deadline of one run's processes")
    runs: list[RunSpec] = Field(min_length=1, description="configurations")

    @model_validator(mode="after")
    def _fits(self) -> StudyPlan:
        import torch

        from harness.pipeline_study.boundary import BoundaryCodec

        shape = (self.micro_batch, self.seq_len, self.model.d_model)
        for i, run in enumerate(self.runs):
            if run.stages > self.model.n_layers:
                raise ValueError(f"runs.{i}.stages: {run.stages} stages for {self.model.n_layers} blocks")
            for direction in ("forward", "backward"):
                try:
                    BoundaryCodec(getattr(run, direction)).encode(list(range(self.micro_batch)), torch.zeros(shape))
                except ValueError as err:
                    raise ValueError(f"runs.{i}.{direction}: {err} (boundary activation {shape})") from None
        return self

    def networks(self) -> list[str]:
        """Every network of the plan in first-use order, loopback first."""
        seen = dict.fromkeys(n for run in self.runs for n in run.networks)
        return sorted(seen, key=lambda n: (n != "loopback", network_rate_mbit(n) or 0.0))

    def max_stages(self, network: str) -> int:
        return max(run.stages for run in self.runs if network in run.networks)


class RunConfig(Strict):
    """What one run's stage processes get (as JSON): the plan's settings, one run, one network."""

    model: ModelSpec
    micro_batch: int
    seq_len: int
    n_micro_batches: int
    warmup_steps: int
    measured_steps: int
    seed: int
    lr: float
    timeout_s: float
    run: RunSpec
    network: str
    #: test hook: this stage raises at the start of this step (a worker that fails mid-run)
    fail_stage: int | None = None
    fail_step: int | None = None

    @property
    def n_samples(self) -> int:
        """The data set: one step's samples, visited every step (AQ-SGD is in its steady state from step 2)."""
        return self.micro_batch * self.n_micro_batches


def run_config(plan: StudyPlan, run: RunSpec, network: str, **extra) -> RunConfig:
    shared = plan.model_dump(include={"model", "micro_batch", "seq_len", "n_micro_batches", "warmup_steps",
                                      "measured_steps", "seed", "lr", "timeout_s"})
    return RunConfig(**shared, run=run.model_dump(), network=network, **extra)


def load_plan(path: Path | str) -> StudyPlan:
    """Read and validate a plan file; every problem is one line naming the file and the key."""
    from harness.config.loader import read_yaml_file  # the scenario files' reader: duplicate keys, dates, ...
    from harness.config.problems import validation_problems

    data = read_yaml_file(path, "plan file")
    if not isinstance(data, dict):
        what = "the file is empty" if data is None else f"got a {'list' if isinstance(data, list) else 'value'}"
        raise ScenarioError([f"{path}: {what}; expected a mapping of plan keys (runs, model, ...)"])
    try:
        return StudyPlan.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([f"{path}: {line}" for line in validation_problems(err, StudyPlan, data)]) from None
