"""`leave_process` ends a worker with its code, keeps what it printed, and skips the interpreter's teardown."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import atexit, sys
from methods.process_exit import leave_process
atexit.register(lambda: print("teardown ran"))
print("result line", end="")          # buffered: a pipe is not a terminal
sys.stderr.write("diagnostic")
leave_process(3)
"""


def test_leave_process_exits_with_the_code_after_flushing_and_skips_teardown():
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "result line"
    assert done.stderr == "diagnostic"
