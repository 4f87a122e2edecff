"""The run store: ``<root>/<scenario-name>/<run-id>/{metrics.csv, run.json}`` (DESIGN.md "Run output").

The run-id is a short sha256 of the canonical JSON of the resolved scenario, the code version of its kind (the
project modules the kind imports), the timing-table hashes (`harness.provenance`) and the content of every data
file the scenario names (its `DataFile` keys, `harness.config.datafiles`: each such key enters the identity as
the file's sha256, not its path), so the same experiment on the same code, tables and input files is found again
and reused, and a changed one (an edited trace CSV too) gets a new folder: a finished run is never overwritten.

A finished run is served only while its ``metrics.csv`` is what was written: run.json keeps the file's sha256
(``metrics_sha256``; runs stored before it: the row count ``metrics_rows``). A folder whose metrics.csv does not
match is not a finished run: `RunStore.find` removes it and says so in one warning line (logger ``harness.store``),
and the run is computed again.

Writes are atomic: a run is written into a temp folder ``.tmp-<run-id>-<host>-<pid>-<token>`` beside its final
folder, every file and the folder are fsynced, and the folder is renamed into place. ``run.json`` carries
``"complete": true`` and its own run-id; a reader treats a folder without both, and any temp folder, as absent.
Temp folders left by a killed process (on this host, whose pid is gone) are deleted by the next reader. Beside the
run folders, ``harness sweep`` leaves one combined table per sweep, ``sweep-<hash>.csv``
(`RunStore.write_sweep_table`). Only this module writes the run store; figures, studies and imported tables are
written atomically through `harness.files`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.config.blocks import ScenarioBase, in_file_order
from harness.config.datafiles import data_file_paths, data_file_records, dotted_key

DEFAULT_RESULTS_ROOT = Path("results") / "runs"
RUN_ID_HEX_CHARS = 16
METRICS_FILE = "metrics.csv"
RUN_FILE = "run.json"
TEMP_PREFIX = ".tmp-"
ASIDE_PREFIX = ".aside-"
SWEEP_TABLE_PREFIX = "sweep-"
FOREIGN_TEMP_MAX_AGE_S = 24 * 3600

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """A finished run in the store.

    Attributes:
        run_dir: its folder (holds ``metrics.csv`` and ``run.json``).
        run_id: the short hash naming the folder.
        reused: True if it was found finished instead of computed now.
        info: the run's ``RunOutput.info`` (plus what it added to ``RunContext.info``).
        values: the sweep-axis values of its point (empty outside a sweep).
        non_finite: run.json's ``non_finite``: the metrics columns holding NaN or +-inf, where they start and how
            many rows (`harness.non_finite`); empty when every number is finite (and for runs stored before it).
        host_load: run.json's ``host_load``: the CPUs the run could use and the machine's load averages (1, 5,
            15 minutes) before and after it; empty for runs stored before it.
    """

    run_dir: Path
    run_id: str
    reused: bool
    info: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    non_finite: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_load: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def stored(cls, run_dir: Path, record: dict[str, Any], reused: bool, values: dict[str, Any]) -> RunRecord:
        """The record of the finished run in ``run_dir`` from its run.json ``record``."""
        return cls(run_dir, run_dir.name, reused, record.get("info") or {}, dict(values),
                   record.get("non_finite") or {}, record.get("host_load") or {})

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    def read_metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.metrics_path)


# ----------------------------------------------------------------------------------------- identity


def resolved_scenario(scenario: ScenarioBase) -> dict[str, Any]:
    """The scenario as stored in run.json and hashed: every default filled in, the sweep block dropped."""
    return in_file_order(scenario.model_dump(mode="json", exclude={"sweep"}))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default)


def compute_run_id(
    scenario: ScenarioBase,
    code_version: str,
    table_hashes: dict[str, str],
    data_files: list[dict[str, str]] | None = None,
) -> str:
    """Short sha256 of (resolved scenario, code version, timing-table hashes, data files' contents).

    Every `DataFile` key of the scenario enters the identity as ``"sha256:<hex>"`` of the file's bytes instead of
    its path: an edited file is a new run, and the same file content at another path (a moved checkout) is the same
    run. A scenario that names no data file has the identity it always had.

    Args:
        data_files: `harness.config.datafiles.data_file_records` of ``scenario`` when the caller has them already;
            by default they are read now.

    Raises:
        ScenarioError: a data file cannot be read (one line naming its key and the file).
    """
    records = data_file_records(scenario) if data_files is None else data_files
    scenario_identity = resolved_scenario(scenario)
    if records:
        digests = {record["key"]: record["sha256"] for record in records}
        for path, _ in data_file_paths(scenario):
            _set_in(scenario_identity, path, f"sha256:{digests[dotted_key(path)]}")
    identity = {"scenario": scenario_identity, "code_version": code_version, "tables": table_hashes}
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:RUN_ID_HEX_CHARS]


def _set_in(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def metrics_csv_text(metrics: pd.DataFrame) -> str:
    """The exact bytes (as text) stored as metrics.csv: no index, ``\\n`` line ends, shortest float repr."""
    if not isinstance(metrics, pd.DataFrame):
        raise TypeError(f"RunOutput.metrics must be a pandas DataFrame, got {type(metrics).__name__}")
    return metrics.to_csv(index=False, lineterminator="\n")


# ----------------------------------------------------------------------------------------- file helpers


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def metrics_mismatch(run_dir: Path, record: dict[str, Any]) -> str | None:
    """Why ``run_dir``'s metrics.csv is not the table its run.json ``record`` describes, or None if it is.

    Compares the file's sha256 with ``metrics_sha256``; for a run stored before that key, its row count with
    ``metrics_rows``. A record with neither is taken as it is.
    """
    path = run_dir / METRICS_FILE
    expected_sha = record.get("metrics_sha256")
    if isinstance(expected_sha, str):
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            return f"metrics.csv cannot be read ({err.strerror or err})"
        return None if actual == expected_sha else "metrics.csv is not the file that was written (its sha256 differs)"
    expected_rows = record.get("metrics_rows")
    if not isinstance(expected_rows, int) or isinstance(expected_rows, bool):
        return None
    try:
        rows = len(pd.read_csv(path, skip_blank_lines=False))
    except pd.errors.EmptyDataError:
        rows = 0
    except (OSError, ValueError) as err:  # pandas' ParserError and a UnicodeDecodeError are ValueErrors
        return f"metrics.csv cannot be read as a table ({str(err).strip().splitlines()[0] if str(err) else err})"
    return None if rows == expected_rows else f"metrics.csv has {rows} rows, run.json records {expected_rows}"


def _pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this host and is not a zombie (a killed writer nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat.rpartition(")")[2].split()[:1]
    return state not in (["Z"], ["X"])


def _is_stale_temp(path: Path, host: str) -> bool:
    """A temp folder whose writer is gone: same host and dead pid, or another host's and older than a day."""
    parts = path.name[len(TEMP_PREFIX):].split("-")
    if len(parts) < 4:
        return True
    writer_host, writer_pid = "-".join(parts[1:-2]), parts[-2]
    if writer_host == host and writer_pid.isdigit():
        return not _pid_alive(int(writer_pid))
    try:
        return time.time() - path.stat().st_mtime > FOREIGN_TEMP_MAX_AGE_S
    except FileNotFoundError:
        return False


# ----------------------------------------------------------------------------------------- the store


class RunStore:
    """Finished runs under ``root`` (default ``results/runs`` under the current directory).

    Example::

        store = RunStore("results/runs")
        record = store.find("toy_sweep", run_id)      # None unless finished
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root if root is not None else DEFAULT_RESULTS_ROOT).expanduser().resolve()
        self._host = socket.gethostname().replace("-", "_") or "host"

    def run_dir(self, name: str, run_id: str) -> Path:
        return self.root / name / run_id

    def read_run(self, run_dir: Path) -> dict[str, Any] | None:
        """run.json of a finished run, or None if the folder is absent, unfinished, unreadable or its metrics.csv
        does not match run.json (`metrics_mismatch`)."""
        record = self._read_record(run_dir)
        if record is None or metrics_mismatch(run_dir, record) is not None:
            return None
        return record

    def _read_record(self, run_dir: Path) -> dict[str, Any] | None:
        """run.json of a folder that claims to be a finished run (metrics.csv not checked), else None."""
        if run_dir.name.startswith((TEMP_PREFIX, ASIDE_PREFIX)) or not (run_dir / METRICS_FILE).is_file():
            return None
        try:
            record = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # a finished run's record names its own folder: a run.json copied or damaged into another is not one
        if not isinstance(record, dict) or record.get("complete") is not True or record.get("run_id") != run_dir.name:
            return None
        return record

    def find(self, name: str, run_id: str, values: dict[str, Any] | None = None) -> RunRecord | None:
        """The finished run ``name/run_id`` as a reused `RunRecord`, or None (stale temp folders are removed).

        A run whose metrics.csv does not match its run.json (`metrics_mismatch`) is removed, with one warning
        line, so that it is computed again; nothing else is touched.
        """
        self.clean_stale(name)
        run_dir = self.run_dir(name, run_id)
        record = self._read_record(run_dir)
        if record is None:
            return None
        problem = metrics_mismatch(run_dir, record)
        if problem is not None:
            self._discard(run_dir)
            _log.warning("note: %s: %s; computing the run again", run_dir, problem)
            return None
        return RunRecord.stored(run_dir, record, True, values or {})

    def _discard(self, run_dir: Path) -> None:
        """Move a damaged run folder aside and delete it (a second reader finds it gone, not half deleted)."""
        aside = run_dir.parent / f"{ASIDE_PREFIX}{run_dir.name}-{secrets.token_hex(4)}"
        try:
            os.rename(run_dir, aside)
        except OSError:  # another reader moved it first, or it cannot be moved: a new run replaces it on write
            return
        shutil.rmtree(aside, ignore_errors=True)

    def runs(self, name: str) -> list[RunRecord]:
        """Every finished run of scenario ``name`` (sorted by run-id)."""
        folder = self.root / name
        records = []
        for run_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
            record = self.read_run(run_dir)
            if record is not None:
                records.append(RunRecord.stored(run_dir, record, True, record.get("sweep_point") or {}))
        return records

    def clean_stale(self, name: str) -> list[Path]:
        """Delete temp folders of ``name`` left by writers that are gone; returns what was deleted."""
        folder = self.root / name
        removed = []
        if not folder.is_dir():
            return removed
        for path in folder.iterdir():
            stale_aside = path.name.startswith(ASIDE_PREFIX)
            if stale_aside or (path.name.startswith(TEMP_PREFIX) and _is_stale_temp(path, self._host)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:  # a sweep table's temp file
                    path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def write(self, name: str, run_id: str, metrics_csv: str, run_info: dict[str, Any]) -> tuple[Path, bool]:
        """Atomically store a finished run; returns ``(run_dir, already_there)``.

        ``already_there`` is True when another process finished the same run first: its folder is kept and
        ours is discarded, so a finished run is never overwritten. A final folder that is not a finished run
        (no ``"complete": true``) is moved aside and replaced.
        """
        final = self.run_dir(name, run_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.parent / f"{TEMP_PREFIX}{run_id}-{self._host}-{os.getpid()}-{secrets.token_hex(4)}"
        temp.mkdir()
        try:
            _write_synced(temp / METRICS_FILE, metrics_csv)
            payload = {**run_info, "run_id": run_id, "complete": True,
                       "metrics_sha256": hashlib.sha256(metrics_csv.encode("utf-8")).hexdigest()}
            _write_synced(temp / RUN_FILE, json.dumps(payload, indent=2, sort_keys=True, default=_json_default))
            _fsync_dir(temp)
            already_there = not self._move_into_place(temp, final)
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return final, already_there

    def write_sweep_table(self, name: str, run_ids: list[str], table_csv: str) -> Path:
        """Atomically write the combined table of a sweep as ``<name>/sweep-<hash>.csv`` and return its path.

        The hash is over the points' run ids in order, so the same sweep always writes the same file and two
        sweeps of one scenario name never overwrite each other's table. A rerun rewrites it (same content).
        """
        digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:RUN_ID_HEX_CHARS]
        final = self.root / name / f"{SWEEP_TABLE_PREFIX}{digest}.csv"
        final.parent.mkdir(parents=True, exist_ok=True)
        token = f"{final.stem.replace('-', '_')}-{self._host}-{os.getpid()}-{secrets.token_hex(4)}"
        temp = final.parent / f"{TEMP_PREFIX}{token}"
        try:
            _write_synced(temp, table_csv)
            os.replace(temp, final)
        finally:
            if temp.exists():
                temp.unlink()
        return final

    def _move_into_place(self, temp: Path, final: Path) -> bool:
        """Rename ``temp`` to ``final``; False (and ``temp`` deleted) if a finished run is already there."""
        try:
            os.rename(temp, final)
            return True
        except OSError:
            if not final.exists():
                raise
        if self.read_run(final) is not None:
            shutil.rmtree(temp, ignore_errors=True)
            return False
        aside = final.parent / f"{ASIDE_PREFIX}{final.name}-{secrets.token_hex(4)}"
        os.rename(final, aside)
        os.rename(temp, final)
        shutil.rmtree(aside, ignore_errors=True)
        return True
