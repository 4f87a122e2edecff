"""Gaps found by a mutation audit of methods/grid/signals.py: CSV replay of every value column (unit conversion and
plausible range at its edges), the event's refusal of a loss of all generation, and the droop curve's corners."""

from __future__ import annotations

import numpy as np
import pytest

from methods.grid import signals


def _read(tmp_path, text):
    path = tmp_path / "signal.csv"
    path.write_text(text)
    return signals.read_signal_csv(path)


@pytest.mark.parametrize(("column", "rows", "quantity", "expected"), [
    ("deviation_hz", ["-4.9", "0.02", "5"], "deviation_hz", [-4.9, 0.02, 5.0]),
    ("deviation_mhz", ["-5000", "20", "4999"], "deviation_hz", [-5.0, 0.02, 4.999]),
    ("regulation_pu", ["-1", "0.25", "1"], "regulation_pu", [-1.0, 0.25, 1.0]),
    ("frequency_hz", ["40", "50.02", "70"], "frequency_hz", [40.0, 50.02, 70.0]),
])
def test_every_value_column_is_read_in_its_unit_up_to_its_range_edges(tmp_path, column, rows, quantity, expected):
    text = f"time_s,{column}\n" + "".join(f"{t},{v}\n" for t, v in enumerate(rows))
    trace = _read(tmp_path, text)
    assert trace.quantity == quantity
    assert trace.values.tolist() == pytest.approx(expected)
    assert trace.time_s.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(("column", "value"), [
    ("deviation_hz", "5.1"), ("deviation_hz", "-5.1"), ("deviation_mhz", "5100"), ("deviation_mhz", "-5100"),
    ("regulation_pu", "1.01"), ("regulation_pu", "-1.01"), ("frequency_hz", "39.9"), ("frequency_hz", "70.1"),
])
def test_values_beyond_the_plausible_range_are_refused(tmp_path, column, value):
    first = "50" if column == "frequency_hz" else "0"
    with pytest.raises(signals.SignalFileError, match=f":3: {column} = {value} is outside"):
        _read(tmp_path, f"time_s,{column}\n0,{first}\n1,{value}\n")


def test_resampling_holds_the_last_sample():
    trace = signals.SignalTrace("regulation_pu", np.array([0.0, 1.0, 3.0]), np.array([0.1, 0.2, 0.3]))
    # instants 0, 2 s (held from 1 s) and, for the whole trace, 0, 2 (end 3 s: two steps of 2 s plus the start)
    assert trace.resample(2.0, 4.0).tolist() == [0.1, 0.2]
    assert trace.resample(1.0).tolist() == [0.1, 0.2, 0.2, 0.3]


def test_event_refuses_the_loss_of_all_generation():
    with pytest.raises(ValueError, match="loss_pu"):
        signals.generation_loss_event(1.0, 60)
    assert signals.generation_loss_event(0.0, 60).nadir_hz == 0.0


def test_droop_corners():
    r = signals.droop_request(np.array([0.015, -0.015, 0.2, -0.2, 0.1075]), deadband_hz=0.015, full_hz=0.2)
    assert r.tolist() == pytest.approx([0.0, 0.0, -1.0, 1.0, -0.5])
    with pytest.raises(ValueError, match="deadband_hz"):
        signals.droop_request(np.zeros(2), deadband_hz=0.2, full_hz=0.2)
    assert signals.droop_request(np.array([0.1]), deadband_hz=0.0, full_hz=0.2).tolist() == [-0.5]


def test_regd_like_has_its_target_spread_and_ramps_up_from_rest():
    # a short high-pass (20 s) leaves the OU part with a std far from 1: only the rescaling makes it 0.1;
    # a ramp limit of 1 and a spread of 0.1 keep the clip and the ramp out of the way
    for seed in range(3):
        r = signals.regd_like(3600, np.random.default_rng(seed), target_std=0.1, highpass_tau_s=20.0, max_ramp=1.0)
        assert np.std(r) == pytest.approx(0.1, rel=0.05)
        ramped = signals.regd_like(600, np.random.default_rng(seed), max_ramp=0.05)
        assert abs(ramped[0]) <= 0.05 + 1e-12  # the first step starts from 0, within one ramp
