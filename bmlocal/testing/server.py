"""BmlServer: a real bmlocal server in a thread of this process, on a free loopback port,
with a temporary data directory removed at the end."""
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from waitress import wasyncore

from bmlocal.client import Client
from bmlocal.testing.admin import Admin

LOOP_SECONDS = 0.05  # how long the HTTP loop waits for a socket before looking at stop


class BmlServer:
    def __init__(self, executor: str = "simulate", config: str | Path | None = None,
                 ak: str | None = None, sk: str | None = None,
                 data_dir: Path | None = None, **settings: Any) -> None:
        """`config`: TOML text, or the Path of a TOML file (the `--config` of `bmlocal
        serve`); `ak`/`sk`: the key `client` and `admin` use where credentials are
        configured (its projects must include "*" for the admin calls); `settings`: other
        flags of `bmlocal serve` (hour_seconds=..., grace_seconds=..., threads=...)."""
        self.executor = executor
        self.config = config
        self.ak, self.sk = ak, sk
        self.settings = settings
        self._given_dir = data_dir
        self.root: Path | None = None
        self.url = ""
        self._client: Client | None = None
        self._runtime: Any = None
        self._http: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what tests use ----------------------------------------------------------------

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, ak=self.ak, sk=self.sk)
        return self._client

    @property
    def admin(self) -> Admin:
        return Admin(self.client)

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "the server is not started"
        return self._given_dir or self.root / "data"

    @property
    def pfs(self) -> Path:
        """Where PFS paths live: put code and data here, read PFS outputs here."""
        return self._runtime_settings.pfs

    @property
    def bos(self) -> Path:
        """The local bucket directories (/bucket/key -> bos/bucket/key)."""
        return self._runtime_settings.bos

    def settle(self) -> None:
        """Wait until the directories of reset jobs are removed: background work that a
        timing should not count."""
        if self._runtime is not None:
            self._runtime.scheduler.runner.trash.wait_empty()

    # --- life --------------------------------------------------------------------------

    def start(self) -> "BmlServer":
        from waitress.server import create_server

        from bmlocal.config import load
        from bmlocal.server import build

        self.root = Path(tempfile.mkdtemp(prefix="bmlocal-test-"))
        flags: dict[str, Any] = {"executor": self.executor, "data_dir": str(self.data_dir),
                                 "host": "127.0.0.1", "port": 0, **self.settings}
        if self.config is not None:
            flags["config"] = str(self._config_file())
        self._runtime_settings = load(flags, environ={})
        self._runtime = build(self._runtime_settings)
        self._runtime.scheduler.recover()
        self._runtime.scheduler.start()
        self._http = create_server(self._runtime.app, host="127.0.0.1", port=0,
                                   threads=self._runtime_settings.threads,
                                   clear_untrusted_proxy_headers=True)
        self.url = f"http://127.0.0.1:{self._http.effective_port}"
        self._thread = threading.Thread(target=self._serve, name="bmlocal-test-http",
                                        daemon=True)
        self._thread.start()
        return self

    def _config_file(self) -> Path:
        if isinstance(self.config, Path):
            return self.config
        assert self.root is not None
        path = self.root / "bmlocal.toml"
        path.write_text(str(self.config), encoding="utf-8")
        return path

    def _serve(self) -> None:
        http = self._http
        while not self._stop.is_set():
            http.asyncore.loop(timeout=LOOP_SECONDS, map=http._map, use_poll=True, count=1)

    def stop(self) -> None:
        """Forget every job (real ones are killed), stop serving, remove the data."""
        if self._runtime is None:
            return
        try:
            self.admin.reset()
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            wasyncore.close_all(self._http._map)  # the listening socket and open connections
            self._http.task_dispatcher.shutdown()
            self._runtime.scheduler.shutdown()
            if self._client is not None:
                self._client.close()
            self._runtime = None
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "BmlServer":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
