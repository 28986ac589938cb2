"""Prometheus metrics. Events are counted where they happen (the API, staging, output sync,
the scheduler's failed steps) in this module's counters; what is a state (jobs by status,
queues, GPUs, run times) is read from the store at each scrape, so it is right after a
restart too."""
import bisect
import itertools
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                   HistogramMetricFamily, Metric)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from bmlocal.runtime.views import Views

REGISTRY = CollectorRegistry()
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
RUN_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)
STATUSES = ("PENDING", "RUNNING", "SUCCESSED", "FAILED", "STOPPED")

STAGING_BYTES = Counter("bmlocal_staging_bytes", "Bytes of code and datasets staged into "
                        "job directories, by source", ["source"], registry=REGISTRY)
STAGING_SECONDS = Histogram("bmlocal_staging_seconds", "Time to stage one input (code, "
                            "training or evaluation set), by source", ["source"],
                            registry=REGISTRY)
SYNC_BYTES = Counter("bmlocal_sync_bytes", "Bytes of outputs and logs uploaded to their "
                     "store while jobs run and after they end", registry=REGISTRY)
SYNC_SECONDS = Histogram("bmlocal_sync_seconds", "Time of one upload pass that had files "
                         "to send", registry=REGISTRY)
EXECUTOR_FAILURES = Counter("bmlocal_executor_failures", "Failed steps of the runtime on a "
                            "job (an engine that does not answer, a start that failed), by "
                            "what it was doing", ["operation"], registry=REGISTRY)


def staged(source: str, dest: Path, seconds: float) -> None:
    """One input staged into `dest` (its plain files counted, no link followed)."""
    from bmlocal.runtime.storage.safefs import scan  # the runtime only when it reports
    STAGING_BYTES.labels(source).inc(sum(e.size for e in scan(dest) if e.kind == "file"))
    STAGING_SECONDS.labels(source).observe(seconds)


def synced(nbytes: int, seconds: float) -> None:
    SYNC_BYTES.inc(nbytes)
    SYNC_SECONDS.observe(seconds)


def executor_failed(operation: str) -> None:
    EXECUTOR_FAILURES.labels(operation).inc()


ERROR_CODE = "bmlocal.error_code"  # where a request's answered error code is noted


def note_error(environ: dict, code: int) -> None:
    """The error code a request is answered with (read by the request counter)."""
    environ[ERROR_CODE] = code


def answered_code(environ: dict, status: int) -> int:
    """What a request is counted under: the error code it was answered with, else its HTTP
    status where that is an error, else 0."""
    code = environ.get(ERROR_CODE)
    if code is None:
        return status if status >= 400 else 0
    return code


class RequestSeries(Collector):
    """The API's request counter and latency histogram, by operation and error code: plain
    numbers under one lock, made into families at each scrape (prometheus_client's labelled
    children take three locks a request, a twentieth of a `detail`'s time in the app)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], list[float]] = {}  # count, sum, one per bucket
        self._lock = threading.Lock()

    def add(self, operation: str, code: int | str, seconds: float) -> None:
        bucket = 2 + bisect.bisect_left(LATENCY_BUCKETS, seconds)  # the first with le >= it
        with self._lock:
            series = self._series.get((operation, str(code)))
            if series is None:
                series = self._series[(operation, str(code))] = [0] * (3 + len(LATENCY_BUCKETS))
            series[0] += 1
            series[1] += seconds
            series[bucket] += 1

    def collect(self) -> Iterator[Metric]:
        labels = ["operation", "code"]
        requests = CounterMetricFamily("bmlocal_api_requests", "HTTP requests by operation "
                                       "and error code (0: success)", labels=labels)
        latency = HistogramMetricFamily("bmlocal_api_request_duration_seconds", "Time to "
                                        "answer a request, by operation and error code",
                                        labels=labels)
        with self._lock:
            kept = sorted((key, list(values)) for key, values in self._series.items())
        for key, (count, total, *per_bucket) in kept:
            requests.add_metric(key, count)
            below = itertools.accumulate(per_bucket)
            latency.add_metric(key, [(floatToGoString(le), n) for le, n in
                                     zip((*LATENCY_BUCKETS, math.inf), below)], total)
        yield requests
        yield latency


REQUESTS = RequestSeries()
REGISTRY.register(REQUESTS)


def request_done(operation: str, code: int | str, seconds: float) -> None:
    REQUESTS.add(operation, code, seconds)


class StateCollector(Collector):
    """Gauges and the run time histogram, read from the runtime's views at each scrape."""

    def __init__(self, views: "Views") -> None:
        self.views = views

    def collect(self) -> Iterator[Metric]:
        yield self._jobs()
        yield from self._pools()
        yield self._run_times()

    def _jobs(self) -> Metric:
        family = GaugeMetricFamily("bmlocal_jobs", "Jobs (not deleted) by project and status",
                                   labels=["project", "status"])
        counts = {(p, s): n for p, s, n in self.views.store.status_counts()}
        for project in sorted({p for p, _ in counts}):
            for status in STATUSES:
                family.add_metric([project, status], counts.get((project, status), 0))
        return family

    def _pools(self) -> Iterable[Metric]:
        length = GaugeMetricFamily("bmlocal_queue_length", "Jobs waiting to start, by pool",
                                   labels=["pool"])
        oldest = GaugeMetricFamily("bmlocal_queue_oldest_wait_seconds", "How long the "
                                   "oldest waiting job of each pool has waited",
                                   labels=["pool"])
        total = GaugeMetricFamily("bmlocal_gpus", "GPUs a pool can use", labels=["pool"])
        used = GaugeMetricFamily("bmlocal_gpus_in_use", "GPUs held by a pool's jobs",
                                 labels=["pool"])
        queues = {pool: (n, first) for pool, n, first in self.views.store.queue_summary()}
        now = time.time()
        for view in self.views.pool_views():
            n, first = queues.get(view.key, (0, now))
            length.add_metric([view.key], n)
            oldest.add_metric([view.key], max(now - first, 0.0))
            total.add_metric([view.key], view.gpus_total)
            used.add_metric([view.key], view.gpus_in_use)
        return length, oldest, total, used

    def _run_times(self) -> Metric:
        family = HistogramMetricFamily("bmlocal_job_run_seconds", "How long ended jobs ran, "
                                       "from RUNNING to their end, by final status",
                                       labels=["status"])
        by_status: dict[str, list[float]] = {}
        for status, seconds in self.views.store.run_times():
            by_status.setdefault(status, []).append(max(seconds, 0.0))
        for status in sorted(by_status):
            values = by_status[status]
            buckets = [(str(b), sum(v <= b for v in values)) for b in RUN_BUCKETS]
            buckets.append(("+Inf", len(values)))
            family.add_metric([status], buckets, sum(values))
        return family


def exposition(views: "Views") -> bytes:
    """The text format of every metric: the counters and this runtime's state."""
    state = CollectorRegistry()
    state.register(StateCollector(views))
    return generate_latest(REGISTRY) + generate_latest(state)
