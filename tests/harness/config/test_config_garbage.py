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
