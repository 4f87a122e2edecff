"""Grid signals (methods/grid/signals.py): RegD-like bounds, ramp and 15-min neutrality; OU statistics; the
generation-loss event's nadir and RoCoF; droop with deadband; CSV replay with its unit and line checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.grid import signals


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ramp=st.floats(0.1, 0.4))
def test_regd_like_is_bounded_ramp_limited_and_energy_neutral(seed, ramp):
    r = signals.regd_like(3600, np.random.default_rng(seed), max_ramp=ramp)
    assert len(r) == 1800
    assert np.all(np.abs(r) <= 1.0)
    assert np.abs(np.diff(r)).max() <= ramp + 1e-12
    blocks = r.reshape(4, 450).mean(axis=1)
    assert np.abs(blocks).max() < 0.05
    assert np.corrcoef(r[:-1], r[1:])[0, 1] > 0.9


def test_regd_like_is_seeded_and_moves():
    a = signals.regd_like(900, np.random.default_rng(7))
    b = signals.regd_like(900, np.random.default_rng(7))
    c = signals.regd_like(900, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.3 < np.std(a) < 0.7


def test_ou_frequency_matches_its_preset_statistics():
    stats = signals.GRID_STATS["great_britain"]
    df = signals.ou_frequency_deviation(2 * 86400, np.random.default_rng(0), "great_britain")
    assert np.std(df) == pytest.approx(stats.std_hz, rel=0.1)
    lag = int(stats.tau_s / signals.REGD_STEP_S)
    assert np.corrcoef(df[:-lag], df[lag:])[0, 1] == pytest.approx(np.exp(-1), abs=0.08)


def test_generation_loss_event_nadir_and_rocof():
    low = signals.generation_loss_event(0.02, 120, inertia_s=3.0, dt_s=0.5)
    high = signals.generation_loss_event(0.02, 120, inertia_s=8.0, dt_s=0.5)
    assert low.rocof_hz_per_s == pytest.approx(-0.02 * 50 / 6.0)
    assert low.nadir_hz < high.nadir_hz < 0  # more inertia: shallower nadir
    # initial slope of the simulated trace equals the swing-equation RoCoF
    onset = int(10.0 / 0.5)
    slope = (low.deviation_hz[onset + 1] - low.deviation_hz[onset]) / 0.5
    assert slope == pytest.approx(low.rocof_hz_per_s, rel=0.1)
    # settles at the droop steady state -R * loss / (1 + D R) (per unit) below nominal
    assert low.deviation_hz[-1] == pytest.approx(-0.05 * 0.02 / (1 + 0.05) * 50, rel=0.05)


def test_droop_deadband_sign_and_saturation():
    r = signals.droop_request(np.array([0.0, 0.01, -0.01, -0.1, 0.3, -1.0]), deadband_hz=0.015, full_hz=0.2)
    assert r[:3].tolist() == [0.0, 0.0, 0.0]
    assert r[3] == pytest.approx((0.1 - 0.015) / (0.2 - 0.015))  # under-frequency -> inject
    assert r[4] == -1.0 and r[5] == 1.0


def _write(tmp_path, text):
    path = tmp_path / "signal.csv"
    path.write_text(text)
    return path


def test_csv_replay_units_and_resampling(tmp_path):
    trace = signals.read_signal_csv(_write(tmp_path, "time_s,deviation_mhz\n0,10\n1,-20\n3,5\n"))
    assert trace.quantity == "deviation_hz"
    assert trace.values.tolist() == pytest.approx([0.01, -0.02, 0.005])
    assert trace.resample(2.0, 4.0).tolist() == pytest.approx([0.01, -0.02])


@pytest.mark.parametrize("text, message", [
    ("t,frequency_hz\n0,50\n", ":1: expected a 'time_s' column"),
    ("time_s,power_kw\n0,1\n1,2\n", "exactly one value column"),
    ("time_s,frequency_hz\n0,50\n0,50.1\n", ":3: time_s must increase"),
    ("time_s,frequency_hz\n0,50\n1,50020\n", ":3: frequency_hz = 50020 is outside"),
    ("time_s,regulation_pu\n0,0.5\n1,abc\n", ":3: expected numbers"),
    ("time_s,regulation_pu\n0,0.5\n", "at least two samples"),
])
def test_csv_replay_names_file_and_line(tmp_path, text, message):
    with pytest.raises(signals.SignalFileError, match=message):
        signals.read_signal_csv(_write(tmp_path, text))


@pytest.mark.parametrize(("inertia_s", "dt_s"), [(3.0, 0.5), (0.1, 60.0)])
def test_generation_loss_event_is_the_exact_solution_at_any_step(inertia_s, dt_s):
    """The trace matches a tight solve_ivp of the same ODE at every sample (forward Euler on dt_s / 200 was off by
    ~1e-3 Hz at H = 3 s and diverged at H = 0.1 s, dt_s = 60 s), and the nadir is the fine-grid minimum."""
    from scipy.integrate import solve_ivp

    loss, droop, tg, damping, f0, onset = 0.02, 0.05, 5.0, 1.0, 50.0, 10.0
    samples = max(12, int(np.ceil(80 / dt_s)))
    event = signals.generation_loss_event(loss, samples * dt_s, inertia_s=inertia_s, dt_s=dt_s)

    def rhs(_t, x):
        return [(x[1] - loss - damping * x[0]) / (2 * inertia_s), (-x[0] / droop - x[1]) / tg]

    times = np.arange(samples) * dt_s
    after = times[times >= onset]
    ref = solve_ivp(rhs, (onset, after[-1]), [0.0, 0.0], method="Radau", t_eval=after, rtol=1e-11, atol=1e-14)
    expected = np.concatenate([np.zeros(len(times) - len(after)), ref.y[0] * f0])
    assert np.abs(event.deviation_hz - expected).max() < 1e-7
    assert np.all(np.isfinite(event.deviation_hz)) and event.nadir_hz <= event.deviation_hz.min()
    fine = solve_ivp(rhs, (onset, onset + 60), [0.0, 0.0], method="Radau", dense_output=True, rtol=1e-11, atol=1e-14)
    grid = np.linspace(onset, onset + 60, 60001)
    assert event.nadir_hz == pytest.approx(fine.sol(grid)[0].min() * f0, rel=1e-3)


def test_generation_loss_event_refuses_inertia_below_its_bound():
    with pytest.raises(ValueError, match="inertia_s"):
        signals.generation_loss_event(0.02, 60, inertia_s=1e-3)
