"""The locally generated offline-RL datasets (D4RL's recipes, arXiv 2004.07219; maze2d's successor PointMaze).

Nothing can be downloaded here, so every dataset is made on this machine from a recipe: an environment, a
behaviour (a uniform random policy, a SAC policy trained here, the replay stream of that training run, a mixture
of two policies, or a scripted BFS-waypoint + PD controller in the maze) and a number of transitions per size
profile. The same recipe and seed give the same arrays (`methods.offline_rl.datasets.collect`).

Locomotion families (`LOCOMOTION`: Hopper, Walker2d, HalfCheetah, MuJoCo v5) each get D4RL's five recipes, random,
medium, medium-replay, medium-expert and expert, from one SAC run of their own (`sac_run`), with the same seeds in
every family; PointMaze U-Maze and Medium get the scripted maze2d recipe.

Sizes: ``test`` (a few hundred transitions, for tests), ``quick`` (the harness's quick profile), ``full`` (D4RL's
one million transitions scaled down by five for this CPU). Medium-replay's ``full`` size is the whole replay
stream up to the medium checkpoint, as in D4RL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

SIZES = ("test", "quick", "full")

#: repository root (the committed behaviour policies and manifests live under results/offline_rl/)
ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "results" / "offline_rl"
POLICIES = RESULTS / "policies"

#: behaviour kinds a spec may name
BEHAVIOURS = ("random", "policy", "mixture", "replay", "maze_planner")


@dataclass(frozen=True)
class Component:
    """One behaviour source inside a dataset: ``fraction`` of its transitions, drawn with its own ``seed``."""

    behaviour: str
    policy: str | None = None  # checkpoint path relative to the repository root (kind "policy")
    stream: str | None = None  # replay-stream path relative to the repository root (kind "replay")
    stochastic: bool = True  # sample the policy's Gaussian (D4RL collected with the stochastic SAC policy)
    action_noise: float = 0.0  # Gaussian noise added to the scripted controller's action, then clipped
    fraction: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class DatasetSpec:
    """Recipe of one dataset: the environment, its behaviour components and the transitions per size."""

    name: str
    family: str  # key of the reference returns (random / expert) used for normalised scores
    env_id: str
    components: tuple[Component, ...]
    transitions: dict[str, int | None]  # None: every transition of the source (replay stream, "full")
    env_kwargs: dict = field(default_factory=dict)
    eval_env_kwargs: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        for comp in self.components:
            if comp.behaviour not in BEHAVIOURS:
                raise ValueError(f"{self.name}: behaviour must be one of {', '.join(BEHAVIOURS)}, "
                                 f"got {comp.behaviour!r}")
        if abs(sum(c.fraction for c in self.components) - 1.0) > 1e-9:
            raise ValueError(f"{self.name}: component fractions must sum to 1")
        if set(self.transitions) != set(SIZES):
            raise ValueError(f"{self.name}: transitions must give every size of {', '.join(SIZES)}")

    def sources(self) -> list[str]:
        """The committed files the recipe reads (checkpoints, replay stream), relative to the repository root."""
        return [path for comp in self.components for path in (comp.policy, comp.stream) if path]

    def recipe(self, size: str) -> dict:
        """Everything that determines the arrays at ``size`` (the manifest's recipe part)."""
        return {"name": self.name, "size": size, "family": self.family, "env_id": self.env_id,
                "env_kwargs": dict(self.env_kwargs), "eval_env_kwargs": dict(self.eval_env_kwargs),
                "transitions": self.transitions[size],
                "components": [asdict(c) for c in self.components]}


LOCOMOTION_SIZES = {"test": 300, "quick": 10_000, "full": 200_000}
MAZE_SIZES = {"test": 300, "quick": 10_000, "full": 200_000}
MAZE_EVAL = {"continuing_task": True, "reset_target": False}
MAZE_DATA = {"continuing_task": True, "reset_target": True}

#: the MuJoCo locomotion families: family -> environment id (each with one SAC run under POLICIES)
LOCOMOTION = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5"}


def sac_run(family: str) -> str:
    """The committed SAC run of a locomotion family, relative to the repository root."""
    return f"results/offline_rl/policies/{family}-sac-s0"


def _locomotion(family: str) -> tuple[DatasetSpec, ...]:
    """D4RL's five Gym-MuJoCo recipes for one family; the same seeds in every family. HalfCheetah never
    terminates, so its episodes all end at the 1000-step time limit (or at the size budget)."""
    run, env_id = sac_run(family), LOCOMOTION[family]
    ends = ("; episodes end only at the 1000-step time limit (the task never terminates)"
            if family == "halfcheetah" else "")

    def spec(quality: str, components: tuple[Component, ...], description: str,
             sizes: dict[str, int | None] = LOCOMOTION_SIZES) -> DatasetSpec:
        return DatasetSpec(name=f"{family}-{quality}-local", family=family, env_id=env_id, components=components,
                           transitions=dict(sizes), description=description + ends)

    return (
        spec("random", (Component("random", seed=100),), "uniform random actions (D4RL random)"),
        spec("medium", (Component("policy", policy=f"{run}/medium.pt", seed=200),),
             "stochastic SAC policy stopped early at about a third of our expert's return (D4RL medium)"),
        spec("medium-replay", (Component("replay", stream=f"{run}/medium_replay_stream.npz", seed=300),),
             "the SAC run's replay stream up to the medium checkpoint (D4RL medium-replay); smaller sizes draw "
             "whole episodes of the stream uniformly",
             sizes={**LOCOMOTION_SIZES, "full": None}),
        spec("medium-expert", (Component("policy", policy=f"{run}/medium.pt", fraction=0.5, seed=400),
                               Component("policy", policy=f"{run}/expert.pt", fraction=0.5, seed=401)),
             "half medium-policy, half expert-policy transitions (D4RL medium-expert)"),
        spec("expert", (Component("policy", policy=f"{run}/expert.pt", seed=500),),
             "stochastic SAC policy, the best checkpoint of our time-boxed run (D4RL expert)"),
    )


def _maze(layout: str, env_id: str, seed: int) -> DatasetSpec:
    return DatasetSpec(
        name=f"pointmaze-{layout}-local", family=f"pointmaze-{layout}", env_id=env_id,
        components=(Component("maze_planner", action_noise=0.1, seed=seed),),
        transitions=dict(MAZE_SIZES), env_kwargs=MAZE_DATA, eval_env_kwargs=MAZE_EVAL,
        description=f"maze2d analogue on {env_id}: a BFS-waypoint + PD controller drives to the goal, a new goal "
                    "is drawn whenever one is reached (reset_target), Gaussian action noise 0.1; sparse reward.")


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    *(spec for family in LOCOMOTION for spec in _locomotion(family)),
    _maze("umaze", "PointMaze_UMaze-v3", 600),
    _maze("medium", "PointMaze_Medium-v3", 700),
)}


@dataclass(frozen=True)
class ReferenceSpec:
    """How a family's random and expert reference returns are measured (D4RL's REF_MIN / REF_MAX scores):
    ``episodes`` episodes of each component in the evaluation environment, reset seeds as in the datasets."""

    family: str
    env_id: str
    random: Component
    expert: Component
    episodes: int
    eval_env_kwargs: dict = field(default_factory=dict)

    def sources(self) -> list[str]:
        return [comp.policy for comp in (self.random, self.expert) if comp.policy]


REFERENCES: dict[str, ReferenceSpec] = {ref.family: ref for ref in (
    *(ReferenceSpec(family, env_id, Component("random", seed=900),
                    Component("policy", policy=f"{sac_run(family)}/expert.pt", seed=901), episodes=50)
      for family, env_id in LOCOMOTION.items()),
    ReferenceSpec("pointmaze-umaze", "PointMaze_UMaze-v3", Component("random", seed=910),
                  Component("maze_planner", seed=911), episodes=50, eval_env_kwargs=MAZE_EVAL),
    ReferenceSpec("pointmaze-medium", "PointMaze_Medium-v3", Component("random", seed=920),
                  Component("maze_planner", seed=921), episodes=50, eval_env_kwargs=MAZE_EVAL),
)}


def missing_sources(spec: DatasetSpec | ReferenceSpec) -> list[str]:
    """The files ``spec`` reads that are not in the checkout (a SAC run not exported yet)."""
    return [path for path in spec.sources() if not (ROOT / path).exists()]


def missing_message(what: str, missing: list[str]) -> str:
    """One line naming the first missing file and the command that writes it."""
    run = str(Path(missing[0]).parent)
    return (f"{what}: {missing[0]} is missing; export its SAC run first: python scripts/train_behaviour_policies.py "
            f"--out RUN_DIR --export {run}")
