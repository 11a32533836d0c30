"""The load test's CPU accounting (loadtest/run.py): a process of a part that ends during a phase --
a gunicorn worker that ``max_requests`` recycled -- is counted once, for what it used during the
phase, from its parent's reaped-children times; before, everything it used after the phase's first
snapshot went missing (and showed up as "processes outside these parts")."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from loadtest.run import _tree_seconds, cpu_used

CHILD = textwrap.dedent(
    """
    import sys, time

    def burn(seconds):
        until = time.process_time() + seconds
        while time.process_time() < until:
            pass

    burn(0.2)
    print("ready", flush=True)
    sys.stdin.readline()
    burn(0.3)
    """
)

# The root starts the child, waits until it has used its first 0.2 s, says so, lets it use 0.3 s
# more when told, reaps it (as gunicorn's master reaps a worker), says so, and waits to be ended.
ROOT = textwrap.dedent(
    f"""
    import subprocess, sys
    pipe = subprocess.PIPE
    child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], stdin=pipe, stdout=pipe, text=True)
    child.stdout.readline()
    print("ready", flush=True)
    sys.stdin.readline()
    child.stdin.write("go\\n")
    child.stdin.flush()
    child.wait()
    print("reaped", flush=True)
    sys.stdin.readline()
    """
)


def test_a_process_that_ends_during_a_phase_is_counted_for_what_it_used_in_it() -> None:
    root = subprocess.Popen([sys.executable, "-c", ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert root.stdin is not None and root.stdout is not None
    try:
        assert root.stdout.readline().strip() == "ready"
        before = _tree_seconds(root.pid)
        assert len([pid for pid in before if pid > 0]) == 2  # the root and its child, alive

        root.stdin.write("go\n")
        root.stdin.flush()
        assert root.stdout.readline().strip() == "reaped"
        after = _tree_seconds(root.pid)

        assert [pid for pid in after if pid > 0] == [root.pid]
        used = cpu_used(before, after)
        # the child's last 0.3 s (and the root's own few milliseconds); not its first 0.2 s again,
        # and not nothing
        assert 0.29 <= used <= 0.45, used
    finally:
        root.stdin.close()
        root.wait(timeout=10)
