"""The services a drill or a load test runs the app on, each a child process of the script:
a scratch database, a private Redis (and, to restart it, a private PostgreSQL cluster),
gunicorn, a Celery worker and beat. The shared PostgreSQL and Redis are never stopped."""

import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, with the seconds since the script started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def wait_until(condition: Callable[[], bool], *, timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def base_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit(
            "this script needs DATABASE_URL pointing to PostgreSQL (it makes scratch databases)"
        )
    return url


def scratch_database(url: str, name: str) -> str:
    """A fresh, empty database ``name`` on the server ``url`` names; its URL."""
    with psycopg.connect(_maintenance(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(_maintenance(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _maintenance(url: str) -> str:
    """The server's ``postgres`` database: the one named in ``url`` need not exist."""
    return url.rsplit("/", 1)[0] + "/postgres"


def app_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The app as deployed: DEBUG off, so an error page is what a rater would see. Its watched
    directories are the scripts' own, in the temporary folder."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "legibility.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HTTPS_ONLY": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "WATCHED_DIRECTORY_ROOT": tempfile.gettempdir(),
    }


class Services:
    """Child processes with their logs in a temporary folder; all stopped on exit."""

    def __init__(self, name: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"legibility-{name}-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Callable[[], None]] = []

    def __enter__(self) -> "Services":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in reversed(self.processes):
            stop(process)
        for cleanup in reversed(self.cleanups):
            cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in self.folder.glob(f"{name}-*.log")
        )

    def gunicorn(self, env: dict[str, str], *, workers: int = 2, threads: int = 4) -> str:
        port = free_port()
        self.start(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "legibility.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
             "--timeout", "60", "--graceful-timeout", "10"],
            env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(up, timeout_s=60, step_s=0.3):
            sys.exit("gunicorn did not come up:\n" + self.log("gunicorn")[-3000:])
        return url

    def worker(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.start(
            "worker",
            [sys.executable, "-m", "celery", "-A", "legibility", "worker", "--pool", "solo",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"drill-{secrets.token_hex(4)}@%h"],
            env,
        )  # fmt: skip

    def beat(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        schedule = self.folder / f"beat-schedule-{secrets.token_hex(4)}"
        return self.start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "legibility", "beat", "--loglevel", "INFO",
             "--schedule", str(schedule)],
            env,
        )  # fmt: skip


def collect_static(env: dict[str, str]) -> None:
    """With DEBUG off the pages name their static files through the manifest."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO, env=env, check=True,
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes], *, timeout_s: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no clean-up of any kind, as when the machine loses the process."""
    process.send_signal(signal.SIGKILL)
    process.wait()


class PrivateRedis:
    """A redis-server of this script's own, on a free port, without persistence."""

    def __init__(self, services: Services) -> None:
        if not shutil.which("redis-server"):
            sys.exit("this script needs the redis-server binary for a private Redis")
        self.services = services
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = self.services.start(
            "redis",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
        )  # fmt: skip
        if not wait_until(self.answers, timeout_s=10):
            sys.exit("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False


class PrivatePostgres:
    """A PostgreSQL 15 cluster of this script's own, made with initdb in a temporary folder,
    listening on 127.0.0.1 only, on a free port; run as the ``postgres`` user when root."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.port = free_port()
        self.folder = services.folder / "pg"
        self.folder.mkdir()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            os.chmod(services.folder, 0o755)
        self._pg("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8")  # fmt: skip
        services.cleanups.append(self.close)

    def _pg(self, program: str, *arguments: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(PG_BIN / program), *arguments],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder,
        )  # fmt: skip

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
            "-c max_connections=200"
        )
        self._pg("pg_ctl", "-D", str(self.folder / "data"), "-o", options,
                 "-l", str(self.folder / "server.log"), "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are closed and open transactions rolled back."""
        self._pg("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")


def version_of_postgres(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"
