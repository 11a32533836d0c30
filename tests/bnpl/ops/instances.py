"""Private instances for the fault tests: a Redis and a PostgreSQL cluster of the test's own (or a
primary with a streaming replica), on ports of their own, in a temporary directory, started and
stopped by the test (never the machine's shared services on 6379 and 5432). A missing binary skips
here and fails in CI (.ci/run sets BROWSER_TESTS_REQUIRED, the suite's "nothing may skip" switch)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _missing(what: str) -> None:
    if os.environ.get("BROWSER_TESTS_REQUIRED"):
        pytest.fail(f"{what} is needed by the fault tests and CI must run them")
    pytest.skip(f"{what} not found")


@contextmanager
def reserved_port(first: int, last: int) -> Iterator[int]:
    """A port in ``first``..``last`` that nothing listens on, held for this test's whole use of it.

    Probing is not enough: an instance that a test stops for a while (the outage tests) leaves its
    port closed, and a test in another xdist process would take it and be there when the first
    restarts. So each port is also claimed by an exclusive lock on a file named after it, which the
    kernel releases if the process dies."""
    for port in range(first, last + 1):
        claim = (Path(tempfile.gettempdir()) / f"bnpl-test-port-{port}.lock").open("a")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()
            continue
        with claim:
            if not _bindable(port):
                continue  # something outside the tests holds it
            yield port
            return
    raise RuntimeError(f"no free port in {first}-{last}")


def _bindable(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:``port`` now. A connect probe is not enough: a client
    socket whose local end is that port (any outgoing connection, when the port is in the kernel's
    ephemeral range) answers no connect, yet makes the server's bind fail with "Address already in
    use". The ranges below are also kept under that range (32768 and up on Linux) so that no
    outgoing connection can take a port between this probe and the server's start. The probe sets
    SO_REUSEADDR as PostgreSQL and Redis do, so the TIME_WAIT left by a stopped instance is no
    obstacle, just as it is none to them."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(what)


class PrivateRedis:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def _answers(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait(self._answers, 10, "private Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        _wait(lambda: not self._answers(), 10, "private Redis did not stop")


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    with tempfile.TemporaryDirectory(prefix="bnpl-redis-") as directory, reserved_port(6391, 6399) as port:
        redis = PrivateRedis(Path(directory), port)
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()


class PrivatePostgres:
    """A cluster made with initdb, trusting local connections, run by ``user`` (initdb refuses root)."""

    def __init__(self, directory: Path, port: int, user: str | None, *, name: str = "data") -> None:
        self.data = directory / name
        self.port = port
        self.user = user

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.data.with_suffix(".log")  # the server must not hold our pipes open
        try:
            pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options]
            self._run(*pg_ctl, "-w", "-t", "30", "start")
        except subprocess.CalledProcessError as failed:  # say why in CI's output: the folder is gone after
            said = log.read_text(errors="replace")[-3000:] if log.exists() else "(no server log)"
            raise RuntimeError(f"PostgreSQL on port {self.port} did not start: {failed.stderr!r}\n{said}") from failed

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _psql(self, database: str) -> list[str]:
        return [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]

    def query(self, sql: str, database: str = "postgres") -> str:
        """One statement through psql, its result unaligned (``t|f``, a number, ``0/3000148``)."""
        done = subprocess.run(
            [*self._psql(database), "-Atq", "-c", sql], check=True, capture_output=True, text=True, timeout=60
        )
        return done.stdout.strip()

    def database_create(self, name: str) -> None:
        """An empty database, holding the schema already when the suite's own databases are copied
        from a migrated template (DATABASE_TEST_TEMPLATE, as in CI): then the process the test
        starts on it finds no migration to apply (~2.7 s of CPU instead of ~13 s for all of them)."""
        self.query(f"CREATE DATABASE {name}")
        schema = _template_dump()
        if schema is not None:
            subprocess.run(
                [*self._psql(name), "-q", "-v", "ON_ERROR_STOP=1"], input=schema, check=True, capture_output=True
            )

    def standby_of(self, primary: PrivatePostgres) -> None:
        """Make this cluster a hot standby streaming from ``primary``: a base backup that writes the
        standby's settings (``pg_basebackup -R``: standby.signal and primary_conninfo)."""
        self._run(
            str(PG_BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "-c", "fast"),
        )


@functools.cache
def _template_dump() -> bytes | None:
    """The migrated template's schema and rows (pg_dump, plain SQL), or None without a template."""
    database = settings.DATABASES["default"]
    template = database.get("TEST", {}).get("TEMPLATE")
    if not template or database["ENGINE"] != "django.db.backends.postgresql":
        return None
    where = {"-h": database.get("HOST"), "-p": database.get("PORT"), "-U": database.get("USER")}
    options = [part for option, value in where.items() if value for part in (option, str(value))]
    environment = {**os.environ, "PGPASSWORD": database.get("PASSWORD") or ""}
    pg_dump = [str(PG_BIN / "pg_dump"), *options, "--no-owner", "--no-privileges", template]
    return subprocess.run(pg_dump, check=True, capture_output=True, env=environment).stdout


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        _missing(f"{PG_BIN}/initdb")
    user = "postgres" if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="bnpl-pg-") as directory, reserved_port(15433, 15439) as port:
        if user:
            shutil.chown(directory, user)
        cluster = PrivatePostgres(Path(directory), port, user)
        try:
            cluster.init()
            cluster.start()
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
                cluster.stop()


@contextmanager
def private_postgres_with_replica() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A primary (``wal_level=replica``; initdb's rules let 127.0.0.1 replicate) and a hot standby
    streaming from it, each on a port of its own in 15440..15449."""
    if not (PG_BIN / "pg_basebackup").exists():
        _missing(f"{PG_BIN}/pg_basebackup")
    user = "postgres" if os.geteuid() == 0 else None
    with (
        tempfile.TemporaryDirectory(prefix="bnpl-pg-replica-") as directory,
        reserved_port(15440, 15449) as primary_port,
        reserved_port(15440, 15449) as replica_port,
    ):
        if user:
            shutil.chown(directory, user)
        primary = PrivatePostgres(Path(directory), primary_port, user, name="primary")
        replica = PrivatePostgres(Path(directory), replica_port, user, name="replica")
        try:
            primary.init()
            with (primary.data / "postgresql.conf").open("a") as conf:
                conf.write("wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n")
            primary.start()
            replica.standby_of(primary)
            replica.start()
            yield primary, replica
        finally:
            for cluster in (replica, primary):
                with contextlib.suppress(subprocess.CalledProcessError):  # already stopped, or never made
                    cluster.stop()


@contextmanager
def private_pgbouncer(*, upstream_port: int = 5432) -> Iterator[int]:
    """PgBouncer in transaction pooling mode on a port of the test's own, in front of the PostgreSQL
    on ``upstream_port`` (every database, user postgres, trust), run as postgres (PgBouncer refuses
    root); yields its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        _missing("pgbouncer")
    user = "postgres" if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="bnpl-pgbouncer-") as directory, reserved_port(6440, 6449) as port:
        folder = Path(directory)
        (folder / "users.txt").write_text('"postgres" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={upstream_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
            f"unix_socket_dir = {folder}\n"
            "auth_type = trust\n"
            "admin_users = postgres\n"
            f"auth_file = {folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "default_pool_size = 10\nmax_client_conn = 200\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        if user:
            shutil.chown(directory, user)
            for path in folder.iterdir():
                shutil.chown(path, user)
        prefix = ["runuser", "-u", user, "--"] if user else []
        process = subprocess.Popen([*prefix, binary, str(folder / "pgbouncer.ini")], stdout=subprocess.DEVNULL)

        def answers() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        try:
            _wait(answers, 10, "pgbouncer did not start")
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)
