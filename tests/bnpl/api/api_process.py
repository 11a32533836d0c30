"""Another web process, for tests that need one: ``python -m tests.bnpl.api.api_process <database>``.

It serves partner API requests on the given (test) database and the configured cache, with its own
memory (its own per-process caches), on a clock of its own that stands still until told to move
(time-machine, so no test waits on the wall clock). It reads one JSON command per line on stdin and
answers each with one JSON line on stdout:

* ``{"get": "/api/v1/account", "token": "sk_test_…"}`` -> ``{"status": 200, "queries": 0}`` (the
  database queries the request made);
* ``{"shift": 0.5}`` -> ``{"shifted": 0.5}``: this process's clock moves forward that many seconds.
"""

from __future__ import annotations

import json
import os
import sys


def _answer(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")
    import django

    django.setup()

    import time_machine
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from bnpl.core import clock

    connection.settings_dict["NAME"] = sys.argv[1]
    setup_test_environment()
    client = Client()
    with time_machine.travel(clock.real_now(), tick=False) as traveller:
        _answer({"ready": True})
        for line in sys.stdin:
            command = json.loads(line)
            if "shift" in command:
                traveller.shift(float(command["shift"]))
                answer: dict[str, object] = {"shifted": command["shift"]}
            else:
                with CaptureQueriesContext(connection) as captured:
                    response = client.get(command["get"], headers={"Authorization": f"Bearer {command['token']}"})
                answer = {"status": response.status_code, "queries": len(captured.captured_queries)}
            _answer(answer)


if __name__ == "__main__":
    main()
