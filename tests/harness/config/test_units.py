"""harness/config/units.py: human units in scenario files, sweeps and --set, normalised to unit-in-name keys."""

from __future__ import annotations

import textwrap

import pytest

from harness.cli import main
from harness.config.loader import load_scenario, validate_file
from harness.config.units import SUFFIXES, UnitProblem, parse_quantity, suffix_of
from harness.store import resolved_scenario

UNIT = {item.suffix: item for item in SUFFIXES}


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("1GiB", "_bytes", 2**30),
        ("1 GB", "_bytes", 10**9),
        ("4KiB", "_bytes", 4096),
        ("400Gbit/s", "_gbps", 400),
        ("50GB/s", "_gbps", 400),
        ("100Mbps", "_gbps", 0.1),
        ("3.35TB/s", "_gbytes_per_s", 3350),
        ("54d", "_h", 1296),
        ("1.5ms", "_us", 1500),
        ("2.5 us", "_us", 2.5),
        ("90s", "_min", 1.5),
        ("1e3ns", "_us", 1),
        ("25MB", "_mb", 25e6 / 2**20),
        ("2MiB", "_mb", 2),
    ],
)
def test_parse_quantity_converts_exactly(text, suffix, expected):
    value = parse_quantity(text, UNIT[suffix])
    assert value == pytest.approx(expected, rel=1e-15)
    assert isinstance(value, int) == isinstance(expected, int)


@pytest.mark.parametrize(
    ("text", "suffix", "words"),
    [
        ("4GiB", "_gbps", "'GiB' is a size, not a rate; allowed units: bit/s"),
        ("5 furlongs", "_us", "unknown unit 'furlongs'; allowed units: ns, us, ms, s, min, h, d"),
        ("fast", "_gbps", "expected a number or a rate with a unit"),
        ("1Gb", "_bytes", "unknown unit 'Gb'"),
    ],
)
def test_parse_quantity_rejects_wrong_units_naming_the_allowed_ones(text, suffix, words):
    with pytest.raises(UnitProblem, match=words.replace("(", r"\(").replace("/", "/")):
        parse_quantity(text, UNIT[suffix])


def test_suffix_table_is_consistent():
    assert suffix_of("memory_gbytes_per_s").suffix == "_gbytes_per_s"  # the longest suffix wins
    assert suffix_of("n_heads") is None and suffix_of("_s") is None
    assert suffix_of("luminosity_erg_s") is None  # erg per second (CGS), not a time
    for item in SUFFIXES:
        assert item.unit in item.quantity.units and item.unit in item.quantity.shown


def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


LONG = """\
    name: units
    kind: collective
    network:
      inter_node: {bandwidth_gbps: 400, latency_us: 5}
    workload: {op: all_reduce, size_bytes: 1073741824}
"""
SHORT = """\
    name: units
    kind: collective
    network:
      inter_node: {bandwidth: 50GB/s, latency: 5us}
    workload: {op: all_reduce, size: 1GiB}
"""
IN_NAME = """\
    name: units
    kind: collective
    network:
      inter_node: {bandwidth_gbps: 400Gbit/s, latency_us: 0.005ms}
    workload: {op: all_reduce, size_bytes: 1GiB}
"""


def test_short_names_and_unit_strings_resolve_to_the_same_scenario(tmp_path):
    long = resolved_scenario(load_scenario(_write(tmp_path, LONG, "long.yaml")))
    assert resolved_scenario(load_scenario(_write(tmp_path, SHORT, "short.yaml"))) == long
    assert resolved_scenario(load_scenario(_write(tmp_path, IN_NAME, "in_name.yaml"))) == long


def test_hours_in_a_failures_block(tmp_path):
    head = "name: units\nkind: fault_tolerant_training\ncluster: {nodes: 1, devices_per_node: 2}\n"
    long = load_scenario(_write(tmp_path, head + "failures: {horizon_h: 1296, device: {mtbf_h: 48}}\n", "long.yaml"))
    for text in ("failures: {horizon: 54d, device: {mtbf: 2d}}",
                 "failures: {horizon_h: 54d, device: {mtbf_h: 2880min}}"):
        short = load_scenario(_write(tmp_path, head + text + "\n", "short.yaml"))
        assert resolved_scenario(short) == resolved_scenario(long)
    assert long.failures.horizon_h == 1296 and long.failures.device.mtbf_h == 48


def test_set_overrides_go_through_the_same_pass(tmp_path):
    path = _write(tmp_path, LONG)
    scenario = load_scenario(path, ["network.inter_node.bandwidth=100Gbit/s", "workload.size_bytes=2MiB",
                                    "sweep.product.network.intra_node.latency=[1us, 2000ns]"])
    assert scenario.network.inter_node.bandwidth_gbps == 100
    assert scenario.workload.size_bytes == 2 * 2**20
    assert scenario.sweep.product == {"network.intra_node.latency_us": [1, 2]}
    problems = validate_file(path, ["network.inter_node.latency=4"])
    assert problems == [f"{path}: network.inter_node.latency: a number here needs a unit, e.g. '4us'; "
                        "or write latency_us: 4 (set by --set network.inter_node.latency=4)"]


def test_sweep_axes_accept_short_names_and_units(tmp_path):
    path = _write(tmp_path, SHORT + "    sweep:\n      product: {workload.size: [1kB, 1MiB]}\n"
                  "      zip: {network.inter_node.bandwidth_gbps: [100, 1Tbit/s]}\n")
    scenario = load_scenario(path)
    assert scenario.sweep.product == {"workload.size_bytes": [1000, 2**20]}
    assert scenario.sweep.zip == {"network.inter_node.bandwidth_gbps": [100, 1000]}


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("workload: {op: all_reduce, size: 1GiB, size_bytes: 8}",
         "workload.size: given twice, as 'size' and as 'size_bytes'; keep one"),
        ("workload: {op: all_reduce, size: 4Gbit/s}",
         "workload.size: 'Gbit/s' is a rate, not a size; allowed units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"),
        ("workload: {op: all_reduce, size_bytes: 1}\nnetwork: {inter_node: {bandwidth_gbps: 10, latency: 3 parsecs}}",
         "network.inter_node.latency: unknown unit 'parsecs'; allowed units: ns, us, ms, s, min, h, d"),
        ("workload: {op: all_reduce, size: true}",
         "workload.size: expected a size with a unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), got true"),
    ],
)
def test_unit_mistakes_are_one_line_naming_the_key(tmp_path, capsys, yaml_text, expected):
    path = _write(tmp_path, "name: bad\nkind: collective\n" + yaml_text + "\n")
    problems = validate_file(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: {expected}")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALUES = st.one_of(st.text(max_size=12), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.lists(st.text(max_size=6), max_size=3), st.from_regex(r"\A-?[0-9.e]{1,5} ?[a-zA-Zµ/]{0,7}\Z"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["network.inter_node.bandwidth", "network.inter_node.bandwidth_gbps", "workload.size",
                            "workload.size_bytes", "network.inter_node.latency", "sweep.product.workload.size"]),
       value=VALUES)
def test_any_value_under_a_unit_key_is_a_result_or_problem_lines(tmp_path, key, value):
    path = tmp_path / "long.yaml"
    path.write_text(textwrap.dedent(LONG))
    override = f"{key}={value!r}" if not isinstance(value, str) else f"{key}={value}"
    problems = validate_file(path, [override])
    assert all(line.startswith(f"{path}: ") for line in problems)
