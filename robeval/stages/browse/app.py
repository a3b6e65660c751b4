"""Serve a dataset in the FiftyOne App until Ctrl-C or SIGTERM, then leave nothing running.

The App's server runs in a child process; it is stopped by ``session.close()``, which therefore
runs in ``finally`` after SIGINT/SIGTERM have been turned into KeyboardInterrupt (by default
SIGTERM would end Python without running it, and ``fiftyone app launch`` leaves its server behind).
A port already in use is refused up front: FiftyOne would otherwise silently attach to whatever
App answers there, showing another database.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from robeval.core.errors import RobevalError
from robeval.stages.browse.fodb import port_in_use


def check_port(address: str, port: int) -> None:
    if not 0 < port < 65536:
        raise RobevalError(f"--port {port} is not a TCP port (1-65535)")
    if port_in_use(address, port):
        raise RobevalError(f"port {port} on {address} is in use (another FiftyOne App?); "
                           "stop it or pass --port with a free port")


def app_url(address: str, port: int, dataset_name: str) -> str:
    return f"http://{address}:{port}/datasets/{dataset_name}"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(dataset: Any, address: str = "127.0.0.1", port: int = 5151,
          echo: Callable[[str], None] = print, until: threading.Event | None = None) -> None:
    """Launch the App on ``dataset`` and block until Ctrl-C, SIGTERM or ``until`` is set."""
    import fiftyone as fo

    check_port(address, port)
    in_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main:  # signal handlers can only be set from the main thread
        previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    session = server = None
    try:
        server = start_server(fo, address, port)
        session = fo.launch_app(dataset, address=address, port=port, auto=False,
                                spaces=layout(fo, dataset))
        echo(f"FiftyOne App: {app_url(address, port, dataset.name)}  (Ctrl-C to stop)")
        while until is None or not until.is_set():
            time.sleep(0.2)
    except KeyboardInterrupt:
        echo("stopping the App")
    finally:
        if in_main:  # a second Ctrl-C must not cut the shutdown short
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
        try:
            if session is not None:
                session._disable_wait_warning = True  # its "call session.wait()" hint misleads here
                session.close()
            if server is not None:
                _registry().pop(port, None)
                server.stop()  # EOF on its stdin: the service stops the server and waits for it
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def stop_database(timeout: float = 60.0) -> None:
    """Disconnect from MongoDB and, when this process started FiftyOne's database service, wait
    until the service and its mongod have exited. Without this the service notices the closed
    pipe only after robeval has exited, so `robeval browse` would return (to a script or a
    scheduler's SIGTERM) while mongod still runs and holds the database."""
    import sys

    if "fiftyone" not in sys.modules:
        return
    import fiftyone.core.odm.database as fodb
    import psutil

    service = getattr(fodb, "_db_service", None)
    child = getattr(service, "child", None)
    if service is None or child is None or getattr(service, "attached", False):
        return  # another process's service (shared) or an external MongoDB: not ours to stop
    fodb._disconnect()
    procs = [child, *child.children(recursive=True)]
    service.stop()  # closes its stdin: with no other client it stops mongod and exits
    fodb._db_service = None
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:  # did not stop in time: end them rather than leave them behind
        p.terminate()
    psutil.wait_procs(alive, timeout=10)


def layout(fo: Any, dataset: Any) -> Any:
    """Samples grid with the embeddings map beside it, when the dataset has one."""
    if "features" not in dataset.list_brain_runs():
        return None
    return fo.Space(children=[
        fo.Panel(type="Samples", pinned=True),
        fo.Panel(type="Embeddings", state={"brainResult": "features", "colorByField": "correct"}),
    ], orientation="horizontal")


def _registry() -> dict:
    """FiftyOne's port -> server-service map (private; an empty dict if it moved)."""
    import fiftyone.core.session.session as fosession

    return getattr(fosession, "_server_services", {})


def start_server(fo: Any, address: str, port: int, timeout: float = 300.0) -> Any:
    """Start the App server and wait until it answers, before any session connects to it.

    ``launch_app`` starts its client before its server; on a slow machine the client gives up
    after 10 s and retries 10 s later. Started first, the server is also stopped by us, for sure.
    """
    import fiftyone.core.service as fos
    import requests

    server = fos.ServerService(port, address=address, do_not_track=fo.config.do_not_track)
    _registry()[port] = server  # launch_app reuses it instead of starting another
    deadline = time.time() + timeout
    while True:
        try:
            requests.get(f"http://{address}:{port}/fiftyone", timeout=2).raise_for_status()
            return server
        except requests.RequestException:
            if server.child.poll() is not None or time.time() > deadline:
                _registry().pop(port, None)
                server.stop()
                raise RobevalError(f"the FiftyOne App server did not start on {address}:{port}") from None
            time.sleep(0.3)
