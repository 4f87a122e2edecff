"""Property: no garbage (text, bytes, random YAML structures, random --set strings) ever ends in a traceback.

`validate_file` / `load_scenario` return or raise only `ScenarioError` with one-line messages, and
`harness validate` exits 0 or 2 with a message.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.config.loader import load_scenario, validate_file
from harness.errors import ScenarioError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = Path(__file__).resolve().parents[3] / "scenarios" / "toy_example.yaml"

# Real key names mixed with random ones, so generated files reach deep into the models.
KEYS = st.sampled_from([
    "name", "kind", "seed", "cluster", "network", "workload", "technique", "timings", "failures", "grid", "outputs",
    "sweep", "product", "zip", "inter_node", "intra_node", "bandwidth_gbps", "latency_us", "sharing", "nodes",
    "n_messages", "mean_size_bytes", "sleep_ms", "params", "table_set", "network.inter_node.bandwidth_gbps",
    "workload.n_messages", "seed",
]) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["toy", "fifo", "fair", "a", "collective"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                      max_leaves=20)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=8) | VALUES
FRAGMENTS = st.sampled_from([
    "name: a\n", "kind: toy\n", "workload:\n", "  n_messages: ", "technique: {params: {a: ", "}}\n", "&x ", "*x",
    "!!binary /w==", "!!set {a, b}", "!!python/name:os.system", "? [a]\n: b\n", "---\n", "...\n", "- ", "[", "]",
    "{", "}", ": ", ", ", "\n", "  ", "\t", "'", '"', "#", "2020-13-45", "1e9", ".nan", "-.inf", "0x1F", "0o7",
    "~", "null", "yes", "<<: *x\n", "|\n  x\n", ">-\n  y\n", "%YAML 1.1\n", "@", "`", "\x00", "\ufeff",
])
FRAGMENT_TEXT = st.lists(FRAGMENTS | st.text(max_size=4), max_size=25).map("".join)


def check_problems(problems: list[str], source: str) -> None:
    assert problems, "a ScenarioError must carry at least one problem"
    for line in problems:
        assert isinstance(line, str) and line.startswith(f"{source}: ")
        assert "Traceback" not in line


def validate_text_or_bytes(content: str | bytes, overrides: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "garbage.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        problems = validate_file(path, overrides)
        if problems:
            check_problems(problems, str(path))
        else:
            load_scenario(path, overrides)  # valid means loadable
        run_cli(["validate", str(path), *[f"--set={o}" for o in overrides]], expect_ok=not problems)


def run_cli(argv: list[str], expect_ok: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == (0 if expect_ok else 2)
    assert "Traceback" not in err.getvalue()
    assert (out.getvalue() if expect_ok else err.getvalue()).strip()


@SETTINGS
@given(st.text(max_size=200))
def test_random_text(text):
    validate_text_or_bytes(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes(data):
    validate_text_or_bytes(data)


@SETTINGS
@given(DOCUMENTS, st.sampled_from(["block", "flow"]))
def test_random_yaml_structures(document, style):
    text = yaml.safe_dump(document, default_flow_style=(style == "flow"), allow_unicode=True)
    validate_text_or_bytes(text)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_random_blocks_in_an_otherwise_valid_toy_file(extra):
    document = {"name": "g", "kind": "toy", **extra}
    validate_text_or_bytes(yaml.safe_dump(document, allow_unicode=True))


@SETTINGS
@given(st.lists(st.text(max_size=30) | st.builds(lambda k, v: f"{k}={v}", KEYS, st.text(max_size=15) | FRAGMENT_TEXT),
                max_size=3))
def test_random_override_strings(overrides):
    try:
        load_scenario(EXAMPLE, overrides)
    except ScenarioError as err:
        check_problems(err.problems, str(EXAMPLE))
    validate_text_or_bytes(EXAMPLE.read_text(), tuple(overrides))


@SETTINGS
@given(FRAGMENT_TEXT)
def test_random_yaml_fragments(text):
    validate_text_or_bytes(text.encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------- wrong-type --set values on the shipped scenarios
SCENARIO_ROOT = EXAMPLE.parent
SHIPPED = sorted(p for p in SCENARIO_ROOT.rglob("*.yaml") if "broken" not in p.relative_to(SCENARIO_ROOT).parts)
RUNNABLE_KINDS = ("toy", "collective")  # fast enough to run every valid draw end to end ...
SLOW_KEYS = ("workload.sleep_ms", "workload.n_messages", "cluster.nodes", "cluster.devices_per_node", "sweep")  # ... but these


def _leaf_paths(value, prefix: tuple[str, ...] = ()) -> list[str]:
    """Dotted paths of a file's leaves (sweep axes count as one key: their names are dotted paths themselves)."""
    if isinstance(value, dict) and prefix[-1:] not in (("product",), ("zip",)):
        return [path for key, child in value.items() for path in _leaf_paths(child, (*prefix, str(key)))]
    if isinstance(value, dict):
        return [".".join((*prefix, str(key))) for key in value]
    return [".".join(prefix)] if prefix else []


def _keys(file: Path) -> list[str]:
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    extra = ["name", "seed", "cluster.nodes", "cluster.device", "network.model", "technique.name",
             "technique.params.ratio", "technique.params.rank", "workload.task.name", "workload.task.batch_size",
             "workload.n_workers", "workload.steps", "sweep", "sweep.product.seed"]
    return sorted(set(_leaf_paths(data)) | set(extra))


WRONG_VALUES = st.sampled_from([
    "true", "false", "null", "~", ".inf", "-.inf", ".nan", "1e30", "-1e30", "1e400", "9007199254740993", "-1", "0",
    "0.5", "'12'", "abc", "[]", "{}", "[1, true]", "{a: 1}", "[.inf]", "2020-13-45", "!!binary /w==", "''", "[[[]]]",
    "{name: imagenet}", "{<<: {a: 1}}", "'" + "x" * 300 + "'",
]) | st.builds(lambda value: yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip(),
               VALUES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_wrong_type_override_on_a_shipped_scenario_never_crashes(data):
    file = data.draw(st.sampled_from(SHIPPED), label="file")
    key = data.draw(st.sampled_from(_keys(file)), label="key")
    value = data.draw(WRONG_VALUES, label="value")
    override = f"{key}={value}"
    problems = validate_file(file, [override])
    for line in problems:
        assert line.startswith(f"{file}: ") and "\n" not in line and "Traceback" not in line
    run_cli(["validate", str(file), f"--set={override}"], expect_ok=not problems)
    if not problems and load_scenario(file, [override]).kind in RUNNABLE_KINDS and not key.startswith(SLOW_KEYS):
        with tempfile.TemporaryDirectory() as out:
            run_cli(["run", str(file), f"--set={override}", "--out", out], expect_ok=True)
