"""Grid-frequency and regulation signals for fast frequency response (setting of arXiv 2504.03150).

Everything is sampled on a fixed step ``dt_s`` (2 s, the PJM RegD update period) and returned as numpy arrays.

* `ou_frequency_deviation`: grid-frequency deviation Delta f (Hz) as an Ornstein-Uhlenbeck process. Presets in
  `GRID_STATS` are order-of-magnitude statistics of measured grid frequency: the open database of Gorjao et al.
  (arXiv 2006.02481) and the data-driven model of Gorjao et al. (arXiv 1909.08346) report a standard deviation of
  a few hundredths of a hertz for Continental Europe and several times that for Great Britain, with
  autocorrelation decaying over tens of seconds to minutes. The values below are rounded readings of those
  statements (not fits of the raw data).
* `generation_loss_event`: a step loss of generation in a single-area swing-equation model with a first-order
  governor and droop (Kundur, *Power System Stability and Control*, 1994, ch. 11: 2H d(df)/dt = dPm - dPe - D df,
  governor droop R ~ 5%, inertia constant H of 2-9 s). Returns the trace, the nadir and the initial RoCoF
  (RoCoF = -dP f0 / (2 H), per unit on system base).
* `regd_like`: RegD-like signal: OU, high-passed for energy neutrality, scaled, clipped to [-1, 1], ramp-limited,
  with a running correction that drives each 15-minute block's mean to ~0 (PJM programs RegD to integrate to ~0;
  PJM Manual 12). RegD itself is not public offline; this is a synthetic stand-in.
* `droop_request`: frequency deviation -> normalized power request with a deadband (-1 = absorb, +1 = inject).
* `read_signal_csv`: replay of a user's trace; the unit is named by the column (``frequency_hz``,
  ``deviation_hz``, ``deviation_mhz`` or ``regulation_pu``) beside ``time_s``; bad input raises
  `SignalFileError` naming the file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: RegD update period, seconds (PJM Manual 12: the regulation signal is sent every 2 s).
REGD_STEP_S = 2.0
#: Energy-neutrality window of RegD, seconds (15 minutes).
NEUTRAL_WINDOW_S = 900.0


@dataclass(frozen=True)
class GridStats:
    """OU parameters of one grid: nominal frequency, stationary std of Delta f (Hz), correlation time (s)."""

    nominal_hz: float
    std_hz: float
    tau_s: float


#: Rounded readings of published grid-frequency statistics (module docstring: Gorjao et al. 2020, 2019).
GRID_STATS: dict[str, GridStats] = {
    "continental_europe": GridStats(nominal_hz=50.0, std_hz=0.02, tau_s=60.0),
    "great_britain": GridStats(nominal_hz=50.0, std_hz=0.06, tau_s=60.0),
    "nordic": GridStats(nominal_hz=50.0, std_hz=0.04, tau_s=60.0),
}


class SignalFileError(ValueError):
    """A signal CSV is unusable; the message names the file (and line) and what was expected."""


def ou_process(n: int, dt_s: float, tau_s: float, std: float, rng: np.random.Generator, x0: float = 0.0) -> np.ndarray:
    """Exact discretization of dx = -x/tau dt + sqrt(2 std^2/tau) dW on a grid of ``n`` points."""
    decay = math.exp(-dt_s / tau_s)
    noise = std * math.sqrt(1.0 - decay**2)
    x = np.empty(n)
    value = x0
    for k, z in enumerate(rng.standard_normal(n)):
        x[k] = value
        value = decay * value + noise * z
    return x


def ou_frequency_deviation(duration_s: float, rng: np.random.Generator, grid: str = "continental_europe",
                           dt_s: float = REGD_STEP_S) -> np.ndarray:
    """Delta f (Hz) for ``duration_s`` seconds on ``grid``'s statistics (`GRID_STATS`), stationary start."""
    stats = GRID_STATS[grid]
    n = int(round(duration_s / dt_s))
    return ou_process(n, dt_s, stats.tau_s, stats.std_hz, rng, x0=stats.std_hz * float(rng.standard_normal()))


@dataclass(frozen=True)
class EventResult:
    """A generation-loss event: Delta f trace (Hz) on ``dt_s`` steps, its nadir (Hz, <= 0) and initial RoCoF (Hz/s)."""

    deviation_hz: np.ndarray
    nadir_hz: float
    nadir_time_s: float
    rocof_hz_per_s: float


#: Lowest system inertia constant H the event model accepts, seconds: ten times below the ~1 s discussed for
#: low-inertia and island grids (large interconnections have 2-9 s, Kundur 1994). The nadir grid resolves the
#: fastest mode (|lambda| ~ 1 / (2H) for small H) with 20 points per time constant, so its size grows as 1/H:
#: ~6e7 points for a week of 60 s steps at 0.1 s (a fraction of a second), 100 times that at 1 ms.
MIN_INERTIA_S = 0.1
#: Fine-grid points evaluated per vectorised block of the event's nadir search.
_EVENT_BLOCK = 4096


def generation_loss_event(loss_pu: float, duration_s: float, *, inertia_s: float = 5.0, droop: float = 0.05,
                          governor_tau_s: float = 5.0, damping: float = 1.0, nominal_hz: float = 50.0,
                          onset_s: float = 10.0, dt_s: float = REGD_STEP_S, substeps: int = 200) -> EventResult:
    """Swing equation with governor (module docstring) after a step loss of ``loss_pu`` generation at ``onset_s``.

    Per unit on system base: 2H dw/dt = Pm - loss - D w,  T_g dPm/dt = -w/R - Pm,  w = Delta f / f0.
    The model is linear with a step input, so it is solved exactly: x(t) = x_ss - expm(A (t - onset)) x_ss after
    the onset (0 before), stable for every H and ``dt_s`` (an explicit scheme is not: forward Euler on
    ``dt_s / 200`` diverged at H = 0.1 s and 60 s steps). Sampled every ``dt_s``; the nadir is the lowest value on
    steps of ``dt_s / substeps``, finer where the dynamics are faster (20 points per fastest time constant).
    """
    from scipy.linalg import expm

    if not (0.0 <= loss_pu < 1.0):
        raise ValueError(f"loss_pu: expected a number in [0, 1), got {loss_pu}")
    if not inertia_s >= MIN_INERTIA_S:
        raise ValueError(f"inertia_s: expected at least {MIN_INERTIA_S} s, got {inertia_s}")
    n = int(round(duration_s / dt_s))
    a = np.array([[-damping / (2.0 * inertia_s), 1.0 / (2.0 * inertia_s)],
                  [-1.0 / (droop * governor_tau_s), -1.0 / governor_tau_s]])
    # nadir grid: at least 20 points per fastest time constant 1/|lambda| (the nadir then within ~3e-4 of the
    # continuous minimum); with H >= MIN_INERTIA_S, |lambda| <~ 5/s, so a week at 60 s steps is ~6e7 points
    substeps = max(substeps, math.ceil(dt_s * float(np.abs(np.linalg.eigvals(a)).max()) * 20.0))
    h = dt_s / substeps
    w_ss = -loss_pu / (damping + 1.0 / droop)  # steady state: Pm = -w/R = loss + D w
    x_ss = np.array([w_ss, -w_ss / droop])
    # fine grid t_m = m h, m = 1 .. n substeps (the instants after each sub-step); the loss acts from m0 on
    total = n * substeps
    m0 = max(1, math.ceil(onset_s / h - 1e-9))
    trace = np.zeros(n)
    nadir, nadir_t = 0.0, 0.0
    if m0 <= total:
        step = expm(a * h)
        powers = np.empty((_EVENT_BLOCK, 2, 2))  # step^j, j = 0 .. block - 1
        powers[0] = np.eye(2)
        for j in range(1, _EVENT_BLOCK):
            powers[j] = step @ powers[j - 1]
        first_rows = powers[:, 0, :]  # w-row of step^j
        jump = step @ powers[-1]  # step^block
        state = expm(a * (m0 * h - onset_s)) @ x_ss  # expm(A tau) x_ss at m0
        for start in range(m0, total + 1, _EVENT_BLOCK):
            count = min(_EVENT_BLOCK, total + 1 - start)
            w = w_ss - first_rows[:count] @ state
            low = int(np.argmin(w))
            if w[low] < nadir:
                nadir, nadir_t = float(w[low]), (start + low) * h
            sampled = np.arange(-(-start // substeps) * substeps, start + count, substeps)  # m = k substeps
            sampled = sampled[sampled < total]
            trace[sampled // substeps] = w[sampled - start]
            state = jump @ state
    return EventResult(trace * nominal_hz, nadir * nominal_hz, nadir_t,
                       -loss_pu * nominal_hz / (2.0 * inertia_s))


def _ramp_limited(target: np.ndarray, max_ramp: float, block: int) -> np.ndarray:
    """Track ``target`` within [-1, 1] and the ramp limit, steering each block of ``block`` steps to mean ~0."""
    r = np.empty_like(target)
    previous, block_sum = 0.0, 0.0
    for k, value in enumerate(target):
        position = k % block
        if position == 0:
            block_sum = 0.0
        remaining = block - position
        # Spread the block's accumulated imbalance over its remaining steps (at least 20 s worth).
        wanted = value - block_sum / max(remaining, 10)
        step = min(max(wanted - previous, -max_ramp), max_ramp)
        previous = min(max(previous + step, -1.0), 1.0)
        r[k] = previous
        block_sum += previous
    return r


def regd_like(duration_s: float, rng: np.random.Generator, *, dt_s: float = REGD_STEP_S, tau_s: float = 90.0,
              highpass_tau_s: float = 300.0, target_std: float = 0.5, max_ramp: float = 0.25,
              neutral_window_s: float = NEUTRAL_WINDOW_S) -> np.ndarray:
    """A RegD-like regulation signal in [-1, 1] on ``dt_s`` steps (module docstring).

    Properties (tested): bounded in [-1, 1]; |r_k - r_{k-1}| <= ``max_ramp``; every full ``neutral_window_s``
    block has |mean| < 0.05; reproducible from the generator's seed.
    """
    n = int(round(duration_s / dt_s))
    x = ou_process(n, dt_s, tau_s, 1.0, rng, x0=float(rng.standard_normal()))
    alpha = dt_s / highpass_tau_s
    ema = np.empty(n)
    level = 0.0
    for k in range(n):
        level += alpha * (x[k] - level)
        ema[k] = level
    y = x - ema
    y = y * (target_std / max(float(np.std(y)), 1e-12))
    return _ramp_limited(y, max_ramp, max(1, int(round(neutral_window_s / dt_s))))


def droop_request(deviation_hz: np.ndarray, *, deadband_hz: float = 0.015, full_hz: float = 0.2) -> np.ndarray:
    """Normalized power request from Delta f: 0 inside the deadband, linear to +-1 at ``full_hz``.

    Under-frequency (Delta f < 0) asks for injection (+), over-frequency for absorption (-).
    """
    if not (0.0 <= deadband_hz < full_hz):
        raise ValueError(f"deadband_hz: expected 0 <= deadband_hz < full_hz = {full_hz}, got {deadband_hz}")
    df = np.asarray(deviation_hz, dtype=float)
    outside = np.maximum(np.abs(df) - deadband_hz, 0.0)
    return -np.sign(df) * np.clip(outside / (full_hz - deadband_hz), 0.0, 1.0)


#: Accepted value columns of a signal CSV -> (conversion to the canonical unit, plausible range in that unit).
_CSV_COLUMNS: dict[str, tuple[str, float, tuple[float, float]]] = {
    "frequency_hz": ("frequency_hz", 1.0, (40.0, 70.0)),
    "deviation_hz": ("deviation_hz", 1.0, (-5.0, 5.0)),
    "deviation_mhz": ("deviation_hz", 1e-3, (-5.0, 5.0)),
    "regulation_pu": ("regulation_pu", 1.0, (-1.0, 1.0)),
}


@dataclass(frozen=True)
class SignalTrace:
    """A replayed trace: what it is (``frequency_hz``, ``deviation_hz`` or ``regulation_pu``) and its samples."""

    quantity: str
    time_s: np.ndarray
    values: np.ndarray

    def resample(self, dt_s: float, duration_s: float | None = None) -> np.ndarray:
        """Values at 0, dt, 2 dt, ... (sample-and-hold of the last sample at or before each instant)."""
        end = self.time_s[-1] - self.time_s[0] if duration_s is None else duration_s
        grid = self.time_s[0] + np.arange(int(math.floor(end / dt_s + 1e-9)) + (duration_s is None)) * dt_s
        index = np.searchsorted(self.time_s, grid + 1e-9, side="right") - 1
        return self.values[np.clip(index, 0, len(self.values) - 1)]


def read_signal_csv(path: str | Path) -> SignalTrace:
    """Read ``time_s`` plus one value column (unit in its name, `_CSV_COLUMNS`); strict checks, one clear error."""
    path = Path(path)
    if not path.is_file():
        raise SignalFileError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if "time_s" not in header:
            raise SignalFileError(f"{path}:1: expected a 'time_s' column, got {header}")
        value_columns = [c for c in header if c in _CSV_COLUMNS]
        if len(value_columns) != 1:
            raise SignalFileError(f"{path}:1: expected exactly one value column of {sorted(_CSV_COLUMNS)} "
                                  f"(unit in the name), got {header}")
        column = value_columns[0]
        quantity, scale, (low, high) = _CSV_COLUMNS[column]
        times: list[float] = []
        values: list[float] = []
        for line, row in enumerate(reader, start=2):
            try:
                t, v = float(row["time_s"]), float(row[column]) * scale
            except (TypeError, ValueError):
                raise SignalFileError(f"{path}:{line}: expected numbers in time_s and {column}, "
                                      f"got {row.get('time_s')!r}, {row.get(column)!r}") from None
            if not (math.isfinite(t) and math.isfinite(v)):
                raise SignalFileError(f"{path}:{line}: non-finite value")
            if times and t <= times[-1]:
                raise SignalFileError(f"{path}:{line}: time_s must increase, got {t} after {times[-1]}")
            if not (low <= v <= high):
                raise SignalFileError(f"{path}:{line}: {column} = {row[column]} is outside the plausible range "
                                      f"[{low / scale:g}, {high / scale:g}] for that unit")
            times.append(t)
            values.append(v)
    if len(times) < 2:
        raise SignalFileError(f"{path}: expected at least two samples, got {len(times)}")
    return SignalTrace(quantity, np.array(times), np.array(values))
