"""The image's pieces that run on this machine as they run in it (the image itself cannot be built
here: no container daemon): the one install script the Makefile and the Dockerfile share, the
build-only collectstatic settings agreeing with production's static storage, and the entry point
choosing each process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.security.production_env import PROJECT_VARIABLES, complete_production_env

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)


def _run(*command: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES}
    base["PATH"] = VENV_BIN + os.pathsep + base.get("PATH", "")
    return subprocess.run(command, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=timeout)


def test_the_makefile_and_the_dockerfile_install_through_the_same_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"scripts/install\.sh \S+ requirements\.txt", makefile)
    assert re.search(r"scripts/install\.sh \S+ requirements-dev\.txt", makefile)
    installs = [line for line in dockerfile.splitlines() if line.startswith("RUN") and "install" in line]
    assert installs == ["RUN PYTHON=python sh scripts/install.sh /opt/venv requirements.txt"]


def test_the_final_stage_runs_as_an_unprivileged_user_with_a_health_check() -> None:
    runtime = (ROOT / "Dockerfile").read_text().split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in runtime and "scripts/healthcheck.py" in runtime
    assert "apt-get" not in runtime and "install.sh" not in runtime  # no build step in the final stage
    # the code is compiled once in the image, after it is copied (the process cannot write it)
    copied = runtime.index("\nCOPY . .\n")
    compiled = re.search(r"^RUN python -m compileall -q -j 0 /app$", runtime, re.MULTILINE)
    assert compiled is not None and compiled.start() > copied
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", (ROOT / "Dockerfile").read_text(), re.M)


def _static_backend(settings_module: str, env: dict[str, str]) -> str:
    code = "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"
    result = _run(sys.executable, "-c", code, env={"DJANGO_SETTINGS_MODULE": settings_module, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_collectstatic_under_the_build_settings_writes_productions_manifest(tmp_path: Path) -> None:
    production = _static_backend("bnpl.settings.production", complete_production_env())
    assert _static_backend("bnpl.settings.build", {}) == production
    result = _run(
        sys.executable,
        "manage.py",
        "collectstatic",
        "--noinput",
        "--verbosity",
        "0",
        env={"DJANGO_SETTINGS_MODULE": "bnpl.settings.build", "STATIC_ROOT": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    assert manifest["paths"], "nothing collected"
    hashed = next(iter(manifest["paths"].values()))
    assert (tmp_path / hashed).exists() and (tmp_path / f"{hashed}.gz").exists()
    # What the API docs pages load is there; the sidecar's Redoc, which no page serves, is not.
    swagger = manifest["paths"]["drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"]
    assert (tmp_path / f"{swagger}.br").exists()
    assert not [path for path in manifest["paths"] if "redoc" in path]
    assert not (tmp_path / "drf_spectacular_sidecar" / "redoc").exists()


def test_the_entry_point_runs_productions_checks_and_refuses_the_build_settings() -> None:
    checked = _run("sh", "scripts/entrypoint.sh", "check", env=complete_production_env())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout

    unconfigured = _run("sh", "scripts/entrypoint.sh", "check", env={})
    assert unconfigured.returncode != 0
    assert "refuse to start" in unconfigured.stderr

    build = _run("sh", "scripts/entrypoint.sh", "web", env={"DJANGO_SETTINGS_MODULE": "bnpl.settings.build"})
    assert build.returncode == 64
    assert "collectstatic step only" in build.stderr

    unknown = _run("sh", "scripts/entrypoint.sh", "shell-please", env={})
    assert unknown.returncode == 64
    assert "usage" in unknown.stderr
