"""`harness rl-data`: the locally generated offline-RL datasets in the Minari format (`methods.offline_rl.datasets`).

``list`` shows every dataset with its behaviour and sizes, ``make`` regenerates datasets from their recipes and
compares the arrays with the committed manifests (``--record`` writes them), ``verify`` re-hashes the local Minari
files against the committed manifests, ``references`` measures the random and expert reference returns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from harness.errors import HarnessError
from harness.files import write_text_atomic


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rl-data", help="offline-RL datasets made here (Minari format): list, make, verify, references",
        description="Offline-RL datasets generated on this machine with D4RL's recipes (random, medium, "
        "medium-replay, medium-expert, expert on Hopper, Walker2d and HalfCheetah; a scripted maze2d analogue on "
        "PointMaze), written as Minari "
        "datasets (ids effml/<name>-<size>-v0 under $MINARI_DATASETS_PATH, default ~/.cache/effml_harness/minari).")
    sub = parser.add_subparsers(dest="rl_data_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="datasets, behaviours, transitions per size, local and committed state")
    lst.set_defaults(func=run_list)
    for action, helptext, func in (
            ("make", "regenerate datasets from their recipes and compare with the committed manifests", run_make),
            ("verify", "re-hash local datasets against the committed manifests", run_verify)):
        p = sub.add_parser(action, help=helptext, description=helptext)
        p.add_argument("names", nargs="*", metavar="NAME", help="dataset names (default: all)")
        p.add_argument("--size", default="quick", help="test, quick or full (default %(default)s)")
        if action == "make":
            p.add_argument("--record", action="store_true",
                           help="write the new manifests to results/offline_rl/manifests/")
        p.set_defaults(func=func)
    ref = sub.add_parser("references", help="measure the random and expert reference returns",
                         description="Measure the random and expert reference returns of each family and write "
                         "results/offline_rl/references.json.")
    ref.add_argument("families", nargs="*", metavar="FAMILY", help="families (default: all)")
    ref.set_defaults(func=run_references)


def _names(args: argparse.Namespace) -> list[str]:
    from methods.offline_rl.datasets import DATASETS, SIZES

    if args.size not in SIZES:
        raise HarnessError(f"--size: expected one of {', '.join(SIZES)}, got {args.size!r}")
    unknown = [n for n in args.names if n not in DATASETS]
    if unknown:
        raise HarnessError(f"unknown dataset {unknown[0]!r}; known: {', '.join(DATASETS)}")
    return args.names or list(DATASETS)


def _datasets_root() -> None:
    """Refuse a ``$MINARI_DATASETS_PATH`` that cannot be the dataset folder (a file, say; empty: the current
    directory): one line, exit 2."""
    from methods.offline_rl.datasets.store import datasets_root

    value = os.environ.get("MINARI_DATASETS_PATH")
    if value is not None and not value.strip():
        raise HarnessError("MINARI_DATASETS_PATH is set but empty; unset it for the default "
                           "(~/.cache/effml_harness/minari) or name the dataset folder")
    try:
        datasets_root()
    except (FileExistsError, NotADirectoryError):
        raise HarnessError(f"MINARI_DATASETS_PATH {os.environ.get('MINARI_DATASETS_PATH')}: a file is in the way; "
                           "expected the dataset folder (or a path to create one)") from None
    except OSError as err:
        raise HarnessError(f"MINARI_DATASETS_PATH {os.environ.get('MINARI_DATASETS_PATH')}: cannot use it as the "
                           f"dataset folder ({err.strerror or err})") from None


def _local_manifest(name: str, size: str) -> dict | None:
    """The local dataset's manifest (None: not generated); `HarnessError` naming the file if it is damaged."""
    from methods.offline_rl.datasets.store import dataset_dir, local_manifest

    try:
        return local_manifest(name, size)
    except (OSError, ValueError) as err:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HarnessError(f"{dataset_dir(name, size) / 'manifest.json'}: damaged local manifest ({err}); "
                           f"regenerate with `harness rl-data make {name} --size {size}`") from None


def _check_sources(specs: list) -> None:
    """One line naming the first checkpoint or stream a recipe needs that is not exported yet."""
    from methods.offline_rl.datasets.specs import missing_message, missing_sources

    for spec in specs:
        missing = missing_sources(spec)
        if missing:
            raise HarnessError(missing_message(getattr(spec, "name", spec.family), missing))


def run_list(args: argparse.Namespace) -> int:
    from methods.offline_rl.datasets import DATASETS, SIZES
    from methods.offline_rl.datasets.store import committed_manifest

    _datasets_root()
    damaged = []

    def local(name: str, size: str) -> str:
        try:
            return "L" if _local_manifest(name, size) else "-"
        except HarnessError as err:
            damaged.append(str(err))
            return "!"

    print(f"{'dataset':<32} {'environment':<20} {'behaviour':<22} " + " ".join(f"{s:>8}" for s in SIZES)
          + "  local / committed")
    for name, spec in DATASETS.items():
        behaviour = "+".join(c.behaviour for c in spec.components)
        sizes = " ".join(f"{'all' if spec.transitions[s] is None else spec.transitions[s]:>8}" for s in SIZES)
        state = " ".join(local(name, s) + ("C" if committed_manifest(name, s) else "-")
                         for s in SIZES)
        print(f"{name:<32} {spec.env_id:<20} {behaviour:<22} {sizes}  {state}")
    print("L: generated here, C: manifest committed (per size, in the order above)"
          + (", !: local dataset damaged" if damaged else ""))
    for line in damaged:
        print(f"error: {line}", file=sys.stderr)
    return 2 if damaged else 0


def _summary(name: str, m: dict) -> str:
    from methods.offline_rl.datasets import DATASETS, normalized_score

    r = m["returns"]
    line = (f"{name:<32} {r['episodes']:>6} episodes {r['transitions']:>8} transitions "
            f"{m['generation_s']['total']:>7.1f} s ({m['generation_s']['cpu']:.1f} s CPU)")
    if "return_mean" in r:
        line += f"  return {r['return_mean']:9.1f} ± {r['return_std']:7.1f}"
        spec = DATASETS[name]
        if spec.env_kwargs == spec.eval_env_kwargs and m["reference_returns"]["expert"] is not None:
            # (the maze data moves its goal on arrival, so its returns are not evaluation returns)
            line += f"  normalized {normalized_score(name, r['return_mean']):6.1f}"
    return line


def run_make(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from methods.offline_rl.datasets.store import MANIFESTS, committed_manifest, dataset_id, make

    from methods.offline_rl.datasets import DATASETS

    names, failed = _names(args), 0
    _datasets_root()
    _check_sources([DATASETS[name] for name in names])
    start = time.perf_counter()
    for name in tqdm(names, desc=f"rl-data make ({args.size})", unit="dataset", leave=False, disable=None):
        m = make(name, args.size)
        tqdm.write(_summary(name, m))
        committed = committed_manifest(name, args.size)
        if args.record:
            write_text_atomic(MANIFESTS / f"{name}-{args.size}.json", json.dumps(m, indent=1) + "\n")
            tqdm.write(f"  recorded manifest of {dataset_id(name, args.size)}")
        elif committed is not None:
            same = committed["arrays"] == m["arrays"] and committed["recipe"] == m["recipe"]
            failed += not same
            tqdm.write("  arrays identical to the committed manifest" if same else
                       "  DIFFERS from the committed manifest")
    print(f"{len(names)} datasets ({args.size}) in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


def run_verify(args: argparse.Namespace) -> int:
    from methods.offline_rl.datasets import verify

    failed = 0
    names = _names(args)
    _datasets_root()
    for name in names:
        try:
            _local_manifest(name, args.size)
            ok, problems = verify(name, args.size)
        except HarnessError as err:
            ok, problems = False, [str(err)]
        except (OSError, ValueError, KeyError) as err:  # Minari files missing or unreadable beside the manifest
            ok, problems = False, [f"local dataset unreadable ({err}); regenerate with `harness rl-data make "
                                   f"{name} --size {args.size}`"]
        failed += not ok
        print(f"{name:<32} {'ok' if ok else 'FAILED'}")
        for problem in problems:
            print(f"  {problem}")
    return 1 if failed else 0


def run_references(args: argparse.Namespace) -> int:
    from methods.offline_rl.datasets.references import REFERENCES, write_references

    unknown = [f for f in args.families if f not in REFERENCES]
    if unknown:
        raise HarnessError(f"unknown family {unknown[0]!r}; known: {', '.join(REFERENCES)}")
    _check_sources([REFERENCES[f] for f in args.families or REFERENCES])
    table = write_references(args.families or None)
    for family in args.families or REFERENCES:
        t = table[family]
        print(f"{family:<18} random {t['random']['mean']:9.1f} ± {t['random']['std']:7.1f}   "
              f"expert {t['expert']['mean']:9.1f} ± {t['expert']['std']:7.1f}   ({t['episodes']} episodes each)")
    return 0
