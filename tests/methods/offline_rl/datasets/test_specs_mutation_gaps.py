"""Gaps in the tests of `specs` found by a mutation audit.

- `missing_message` names the SAC run folder to export (the missing file's parent), not the file itself.
"""

from __future__ import annotations

from methods.offline_rl.datasets.specs import missing_message


def test_missing_message_names_the_first_missing_file_and_its_run_folder():
    run = "results/offline_rl/policies/walker2d-sac-s0"
    message = missing_message("walker2d-medium-expert-local", [f"{run}/medium.pt", f"{run}/expert.pt"])
    assert message == (f"walker2d-medium-expert-local: {run}/medium.pt is missing; export its SAC run first: "
                       f"python scripts/train_behaviour_policies.py --out RUN_DIR --export {run}")
