"""The local Neo4j: a real Neo4j Community server run from Maven Central jars.

No Docker is needed. ``launcher/pom.xml`` names the server, its Bolt and HTTP
connectors and Neo4j Browser; Maven copies those jars into a cache once, and
the server runs through Neo4j's own entry point (``CommunityEntryPoint``) on
Java 17 or 21, in the background, with its home (config, data, logs) in the
configured data directory so that data survives restarts.

Authentication is on. The first start generates a password, sets it with
``neo4j-admin dbms set-initial-password`` before the server ever runs, and
keeps it in ``state.json`` (mode 0600) for korrel8's own use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable

from korrel8.config import LocalNeo4jSettings
from korrel8.errors import LauncherError

POM = Path(__file__).with_name("launcher") / "pom.xml"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
SUPPORTED_JAVA = (17, 21)  # the Java versions Neo4j 5.26 runs on
USER = "neo4j"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class LocalStatus:
    running: bool
    bolt_uri: str
    http_url: str
    data_dir: Path
    version: str
    pid: int | None = None
    # Set only by the start that generated the password, so it is shown once.
    new_password: str | None = None

    @property
    def browser_url(self) -> str:
        return f"{self.http_url}/browser/"


@dataclass(frozen=True)
class Credentials:
    uri: str
    user: str
    password: str


def neo4j_version() -> str:
    """The Neo4j version the launcher's pom.xml pins."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(POM).getroot().find("m:properties/m:neo4j.version", ns)
    if version is None or not version.text:
        raise LauncherError(f"{POM}: no <neo4j.version> property")
    return version.text.strip()


def _state_path(local: LocalNeo4jSettings) -> Path:
    return local.data_dir / "state.json"


def _read_state(local: LocalNeo4jSettings) -> dict[str, object]:
    path = _state_path(local)
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LauncherError(f"cannot read {path}: {exc}") from exc
    return state if isinstance(state, dict) else {}


def _write_state(local: LocalNeo4jSettings, state: dict[str, object]) -> None:
    path = _state_path(local)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 before the password is written into it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)


def credentials(local: LocalNeo4jSettings) -> Credentials | None:
    """The URI and credentials of the local database, if it was ever started."""
    password = _read_state(local).get("password")
    if not isinstance(password, str):
        return None
    return Credentials(uri=local.bolt_uri, user=USER, password=password)


def java() -> str:
    """The Java that runs the local Neo4j (and its admin tool); LauncherError if none fits."""
    return _java()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise LauncherError(
            "Java not found: the local Neo4j needs Java 17 or 21 "
            "(Debian: apt-get install openjdk-17-jre-headless), or set JAVA_HOME"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major not in SUPPORTED_JAVA:
        raise LauncherError(
            f"{java} is Java {major or 'of unknown version'}; Neo4j {neo4j_version()} needs "
            f"Java {' or '.join(map(str, SUPPORTED_JAVA))}: set JAVA_HOME to one"
        )
    return java


def jar_dir(local: LocalNeo4jSettings, progress: Progress = _quiet) -> Path:
    """The directory of the server's jars, fetched from Maven Central on first use."""
    lib = local.cache_dir / f"neo4j-{neo4j_version()}" / "lib"
    done = lib / ".complete"
    if done.exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise LauncherError(
            "Maven (mvn) not found: the local Neo4j's jars come from Maven Central "
            "through it (Debian: apt-get install maven)"
        )
    progress(f"Fetching Neo4j {neo4j_version()} jars from Maven Central into {lib} (once)...")
    lib.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise LauncherError(f"Maven could not fetch the Neo4j jars:\n{tail}")
    done.touch()
    return lib


def _conf(local: LocalNeo4jSettings) -> str:
    home = local.data_dir
    return "\n".join(
        [
            "# Written by korrel8 at every start; edit korrel8's settings, not this file.",
            f"server.default_listen_address={local.host}",
            f"server.default_advertised_address={local.host}",
            f"server.bolt.listen_address={local.host}:{local.bolt_port}",
            f"server.bolt.advertised_address={local.host}:{local.bolt_port}",
            f"server.http.listen_address={local.host}:{local.http_port}",
            f"server.http.advertised_address={local.host}:{local.http_port}",
            "server.https.enabled=false",
            f"server.directories.data={home / 'data'}",
            f"server.directories.logs={home / 'logs'}",
            f"server.directories.run={home / 'run'}",
            f"server.directories.import={home / 'import'}",
            f"server.memory.pagecache.size={local.pagecache}",
            # Transaction logs serve recovery here (no backups, no cluster); kept the
            # default 2 days they grew to 4x the store in minutes of re-listings.
            "db.tx_log.rotation.size=64M",
            "db.tx_log.rotation.retention_policy=256M size",
            "dbms.security.auth_enabled=true",
            "dbms.usage_report.enabled=false",
            "",
        ]
    )


def _pid_alive(pid: int, home: Path) -> bool:
    """True if ``pid`` is a Neo4j server of this home (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return ENTRY_POINT in cmdline and f"--home-dir={home}" in cmdline


def _running_pid(local: LocalNeo4jSettings) -> int | None:
    pid = _read_state(local).get("pid")
    if isinstance(pid, int) and _pid_alive(pid, local.data_dir):
        return pid
    return None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def status(local: LocalNeo4jSettings) -> LocalStatus:
    pid = _running_pid(local)
    return LocalStatus(
        running=pid is not None,
        pid=pid,
        bolt_uri=local.bolt_uri,
        http_url=local.http_url,
        data_dir=local.data_dir,
        version=neo4j_version(),
    )


def _log_tail(local: LocalNeo4jSettings, lines: int = 20) -> str:
    log = local.data_dir / "logs" / "neo4j.log"
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _set_initial_password(java: str, lib: Path, local: LocalNeo4jSettings, password: str) -> None:
    env = {
        **os.environ,
        "NEO4J_HOME": str(local.data_dir),
        "NEO4J_CONF": str(local.data_dir / "conf"),
    }
    # A short-lived JVM: the quick compiler and the serial collector start it 20% sooner.
    fast = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    cmd = [java, *fast, "-cp", f"{lib}/*", ADMIN_TOOL, "dbms", "set-initial-password", password]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # The output never contains the password; it is shown to help diagnose.
        raise LauncherError(f"neo4j-admin set-initial-password failed:\n{result.stderr.strip()}")


def _wait_ready(proc: subprocess.Popen[bytes], local: LocalNeo4jSettings, password: str) -> None:
    deadline = time.monotonic() + local.start_timeout
    with GraphDatabase.driver(local.bolt_uri, auth=(USER, password)) as driver:
        while True:
            if proc.poll() is not None:
                raise LauncherError(
                    f"Neo4j exited during start (code {proc.returncode}); "
                    f"last lines of {local.data_dir / 'logs' / 'neo4j.log'}:\n{_log_tail(local)}"
                )
            try:
                # A plain session: execute_query would back off for up to 30s on its own.
                with driver.session(database="neo4j") as session:
                    session.run("RETURN 1").consume()
                return
            except AuthError as exc:
                raise LauncherError(
                    f"the local Neo4j refused korrel8's stored password ({exc.message}); "
                    f"was {local.data_dir} created by another tool?"
                ) from exc
            except (ServiceUnavailable, OSError):
                pass
            except Exception as exc:  # the database is still starting up
                if "unavailable" not in str(exc).lower():
                    raise
            if time.monotonic() > deadline:
                raise LauncherError(
                    f"Neo4j did not accept Bolt connections on {local.bolt_uri} within "
                    f"{local.start_timeout:.0f}s; see {local.data_dir / 'logs' / 'neo4j.log'}"
                )
            time.sleep(0.5)


def start(local: LocalNeo4jSettings, progress: Progress = _quiet) -> LocalStatus:
    """Start the local Neo4j and return once Bolt accepts queries; idempotent."""
    current = status(local)
    if current.running:
        return current
    java = _java()
    for name, port in (("Bolt", local.bolt_port), ("HTTP", local.http_port)):
        if not _port_free(local.host, port):
            field = "BOLT_PORT" if name == "Bolt" else "HTTP_PORT"
            raise LauncherError(
                f"{name} port {local.host}:{port} is taken by another process; "
                f"stop it or choose another port (KORREL8_LOCAL__{field})"
            )
    lib = jar_dir(local, progress)
    home = local.data_dir
    for sub in ("conf", "data", "logs", "run", "import"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "conf" / "neo4j.conf").write_text(_conf(local))

    state = _read_state(local)
    new_password: str | None = None
    password = state.get("password")
    if not isinstance(password, str):
        if (home / "data" / "dbms" / "auth.ini").exists() or (home / "data" / "databases").exists():
            raise LauncherError(
                f"{home} holds a Neo4j database but no korrel8 password; "
                "choose another data directory (KORREL8_LOCAL__DATA_DIR)"
            )
        progress("Generating a password for the new local database...")
        password = new_password = secrets.token_urlsafe(18)
        _set_initial_password(java, lib, local, password)
        _write_state(local, {"password": password})
        state = _read_state(local)

    progress(f"Starting Neo4j {neo4j_version()} (data in {home})...")
    log = (home / "logs" / "neo4j.log").open("ab")
    cmd = [
        java, f"-Xms{local.heap}", f"-Xmx{local.heap}", "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError", "-Dfile.encoding=UTF-8",
        "-cp", f"{lib}/*", ENTRY_POINT, f"--home-dir={home}", f"--config-dir={home / 'conf'}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=home, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    _write_state(local, {**state, "pid": proc.pid})
    try:
        _wait_ready(proc, local, password)
    except BaseException:
        _terminate(proc.pid)
        raise
    return LocalStatus(
        running=True,
        pid=proc.pid,
        bolt_uri=local.bolt_uri,
        http_url=local.http_url,
        data_dir=home,
        version=neo4j_version(),
        new_password=new_password,
    )


def _terminate(pid: int, timeout: float = 120.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)  # Neo4j checkpoints and closes its stores on SIGTERM
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # Reap it if it is our own child, so it does not linger as a zombie.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)


def stop(local: LocalNeo4jSettings) -> bool:
    """Stop the local Neo4j cleanly; False if it was not running."""
    pid = _running_pid(local)
    if pid is None:
        return False
    _terminate(pid)
    state = _read_state(local)
    state.pop("pid", None)
    _write_state(local, state)
    return True
