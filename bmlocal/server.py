"""Assembling the server from its settings, and serving it with waitress."""
import gc
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from flask import Flask
from waitress.server import create_server

from bmlocal import serverlog
from bmlocal.api.admin import install as install_admin
from bmlocal.api.app import create_app
from bmlocal.replay.api import blueprint as replay_api
from bmlocal.api.auth import Auth
from bmlocal.api.validation import CreateValidator
from bmlocal.config import ConfigError, Settings
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.datadir_lock import lock_data_dir
from bmlocal.runtime.executors.docker import DockerExecutor, engine
from bmlocal.runtime.executors.process import ProcessExecutor
from bmlocal.runtime.executors.select import Executors
from bmlocal.runtime.executors.simulate import SimulateExecutor, simulated_pools
from bmlocal.runtime.gpus import inventory
from bmlocal.runtime.executors.slurm import slurm_executors
from bmlocal.runtime.pools import Pools, mapped_public, public_pools, user_pools
from bmlocal.runtime.resources import Allocator, Quotas
from bmlocal.runtime.delivery import Delivery
from bmlocal.runtime.runner import Runner
from bmlocal.runtime.scheduler import Scheduler
from bmlocal.runtime.service import JobService
from bmlocal.runtime.storage.base import Storage
from bmlocal.runtime.storage.localbos import LocalBosStorage
from bmlocal.runtime.storage.pfs import PfsStorage
from bmlocal.runtime.storage.s3 import BosSettings, S3Storage, bos_settings
from bmlocal.runtime.store import Store
from bmlocal.runtime.views import Views, local_roots
from bmlocal.web import install as install_web
from bmlocal.runtime.trash import Trash
from bmlocal.runtime.wakeup import Slots, Wakeup

log = logging.getLogger("bmlocal")


@dataclass
class Runtime:
    app: Flask
    scheduler: Scheduler
    service: JobService


def build(settings: Settings) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.pfs.mkdir(parents=True, exist_ok=True)
    settings.bos.mkdir(parents=True, exist_ok=True)
    clock = Clock(settings.hour_seconds)
    store = Store(settings.data_dir / "bmlocal.db")
    simulate = SimulateExecutor(store, settings.section("simulate"))
    gpus = inventory(settings.table)
    users = user_pools(settings.table.get("pools", []))
    pools = Pools(mapped_public(public_pools(len(gpus.devices), gpus.gpu_type), users) + users)
    scheduling = settings.config.scheduler
    allocator = Allocator(list(gpus.devices), scheduling.cpu_slots, quotas(settings),
                          scheduling.max_passes,
                          remote_pools=any(p.remote for p in pools.all()))
    wakeup = Wakeup()  # made first: the runner frees slots, ends of nodes wake the loop up
    executors = Executors(simulate if settings.executor == "simulate"
                          else process_executor(wakeup),
                          container_executor(settings),
                          slurm_executors(pools.all(), settings.section, settings.data_dir,
                                          settings.table.get("docker", {}))
                          | simulated_pools(pools.all(), simulate))
    try:
        bos = bos_settings(settings.table.get("bos", {}), os.environ)
    except ValueError as exc:
        raise ConfigError(f"[bos]: {exc}") from None
    storages: dict[str, Storage] = {
        "PFS": PfsStorage(settings.pfs),
        "BOS": S3Storage(bos, settings.data_dir / "cache" / "bos") if bos
        else LocalBosStorage(settings.bos)}
    trash = Trash(settings.data_dir)
    trash.empty()
    runner = Runner(store, executors, storages, settings.data_dir, clock,
                    settings.grace_seconds, delivery(settings, bos, storages),
                    on_release=Slots(allocator, wakeup).release,
                    machine_has_gpus=bool(gpus.devices), trash=trash)
    scheduler = Scheduler(store, runner, executors, allocator, pools, clock,
                          settings.grace_seconds, workers=scheduling.workers, wakeup=wakeup,
                          redeliver_every=settings.config.delivery.retry_seconds)
    service = JobService(store, scheduler, allocator, pools, clock, settings.data_dir,
                         settings.max_jobs_per_project,
                         runs_ccr=executors.container is not None
                         or settings.executor in ("process", "simulate"))
    auth = Auth(settings.credentials, store, clock, settings.token_ttl_seconds)
    app = create_app(service, auth, CreateValidator(storages, pools.find))
    app.register_blueprint(replay_api(service, auth, CreateValidator(storages, pools.find),
                                      settings.section("replay"), executors.container))
    install_admin(app, service, auth, simulate)
    install_web(app, service, auth, Views(store, pools, list(gpus.devices), clock,
                                          settings.data_dir, local_roots(storages)))
    return Runtime(app, scheduler, service)


def process_executor(wakeup: Wakeup) -> ProcessExecutor:
    """Nodes as processes; the end of one wakes the scheduler's loop to watch its job."""
    executor = ProcessExecutor(on_exit=wakeup.watch_job)
    executor.prepare()
    return executor


def delivery(settings: Settings, bos: BosSettings | None, storages: dict[str, Storage]
             ) -> Delivery:
    give_up = settings.config.delivery.give_up_seconds
    if bos is None:  # local bucket directories: a copy that fails is not worth waiting on
        return Delivery(storages, settings.data_dir, 5.0, 10.0, give_up)
    return Delivery(storages, settings.data_dir, bos.sync_interval_seconds,
                    bos.final_sync_timeout_seconds, give_up)


def container_executor(settings: Settings) -> DockerExecutor | None:
    """Docker for CCR jobs: required with --executor docker, where it answers with auto."""
    if settings.executor in ("process", "simulate"):
        return None
    client = engine()
    if client is None:
        if settings.executor == "docker":
            raise ConfigError("--executor docker, but no Docker engine answers at "
                              f"{os.environ.get('DOCKER_HOST', 'the default socket')}")
        log.info("no Docker engine answers: CCR jobs are refused (406034)")
        return None
    table = settings.config.docker
    return DockerExecutor(client, str(settings.data_dir), dict(table.registries),
                          table.shm_size, table.pull_timeout_seconds)


def quotas(settings: Settings) -> Quotas:
    table = settings.config.quotas
    return Quotas(table.max_running_jobs_per_project, table.max_gpus_per_project)


def wsgi_server(app: Flask, host: str, port: int, threads: int) -> Any:
    """How the app is served (bench/bench_serving.py serves a bare Flask app the same way)."""
    serverlog.quiet_queue_warnings()
    return create_server(app, host=host, port=port, threads=threads,
                         clear_untrusted_proxy_headers=True)


def serve(settings: Settings) -> None:
    """Adopt what an earlier run left, then answer requests until SIGTERM or SIGINT."""
    lock_data_dir(settings.data_dir)  # held until the process ends
    runtime = build(settings)
    runtime.scheduler.recover()
    runtime.scheduler.start()
    server = wsgi_server(runtime.app, settings.host, settings.port, settings.threads)
    # What startup made (Flask, pydantic, boto3: some 75,000 objects) lives as long as the
    # server: left out of the cyclic collector, whose full passes over it took 30-40 ms.
    gc.freeze()

    def shutdown(signum: int, _frame: object) -> None:
        # SystemExit ends waitress's loop even while clients hold connections open.
        log.info("signal %s: shutting down; running jobs go on and are adopted at next start",
                 signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("bmlocal serving on http://%s:%s (data dir %s)", settings.host,
             server.effective_port, settings.data_dir)
    try:
        server.run()
    finally:
        server.close()
        if not runtime.scheduler.shutdown():
            # a store or engine that hangs must not hold the exit: what is under way is
            # taken up by the next start, as after a crash
            log.warning("work still under way is left to the next start")
            logging.shutdown()
            os._exit(0)
