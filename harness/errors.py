"""Errors a user can cause. The CLI prints their message (never a traceback) and exits with code 2."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class for every error caused by user input (files, flags, tables)."""


class ScenarioError(HarnessError):
    """A scenario file (or an override) is invalid.

    ``problems`` holds one line per problem, each naming the file, the key path and what was expected,
    e.g. ``scenarios/a.yaml: network.inter_node.bandwidth_gbps: expected a number > 0, got -5``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # keep `problems` intact across process boundaries (pickling)
        return (type(self), (self.problems,))


class TimingTableError(HarnessError):
    """A timing table (results/timings/<device>/<op>.csv or its meta.json) breaks the schema."""


class SimulationError(RuntimeError):
    """The simulator reached an impossible state (e.g. the clock stopped advancing). A bug, not a user error."""
