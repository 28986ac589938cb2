"""Output sync throughput: 1 GiB in 100 files and in one file, uploaded by OutputSync over
S3Storage and, beside it in the same run against the same server, by plain boto3
(`upload_file` per file, botocore's default client and TransferConfig). Medians of
repeated runs and the ratio ours/plain (target >= 0.9). A third method is OutputSync with
botocore's default CRC32 checksums, which S3Storage turns off for S3-compatible stores'
sake: it shows what that choice costs on this store.

Plain boto3 also runs with OutputSync's default checksum setting, so that each method has a
like-for-like baseline: against moto, botocore's checksum setting moves plain boto3 as much
as it moves OutputSync.

Run: .venv/bin/python bench/bench_sync.py [--reps 3]
The store is a moto server on 127.0.0.1 started here, or the one in BMLOCAL_BOS_ENDPOINT /
_ACCESS_KEY / _SECRET_KEY (bucket from --bucket, created when missing).
"""

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bmlocal.runtime.storage.s3 import BosSettings, S3Storage, bos_settings  # noqa: E402
from bmlocal.runtime.storage.sync import OutputSync  # noqa: E402
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, start_moto  # noqa: E402

GIB = 1 << 30
BLOCK = 16 << 20
CASES = {"100 files": 100, "1 file": 1}


def write_files(directory: Path, count: int) -> None:
    """`count` files of GIB/count bytes each; random bytes, every file distinct."""
    directory.mkdir(parents=True)
    block = os.urandom(BLOCK)
    size = GIB // count
    for i in range(count):
        with open(directory / f"part-{i:03}.bin", "wb") as f:
            f.write(i.to_bytes(8, "big"))
            for offset in range(8, size, BLOCK):
                f.write(block[: min(BLOCK, size - offset)])


METHODS = {
    "plain": "plain boto3",
    "plain-same": "plain boto3, no checksums (OutputSync's default)",
    "ours": "OutputSync",
    "ours+crc": "OutputSync, botocore's default checksums",
}
LIKE_FOR_LIKE = {"ours": "plain-same", "ours+crc": "plain"}  # the same checksum setting


def plain_upload(client: BaseClient, bucket: str, directory: Path) -> None:
    for path in sorted(directory.iterdir()):
        client.upload_file(str(path), bucket, f"plain/{directory.name}/{path.name}")


def synced_upload(storage: S3Storage, bucket: str, directory: Path) -> None:
    sync = OutputSync(storage, directory, f"/{bucket}/ours/{directory.name}", 3600, print)
    sync.start()
    problem = sync.finish(timeout=3600)
    if problem:
        raise RuntimeError(problem)


def with_default_checksums(settings: BosSettings, cache: Path) -> S3Storage:
    """S3Storage with `[bos] checksums = "when_supported"`: CRC32 checksums as plain boto3
    sends them, for stores that accept them (the default sends none)."""
    return S3Storage(dataclasses.replace(settings, checksums="when_supported"), cache)


def plain_client(settings: BosSettings, config: Config | None = None) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region or "us-east-1",
        config=config,
    )


def empty(client: BaseClient, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def timed(action: Callable[[], None], client: BaseClient, bucket: str) -> float:
    empty(client, bucket)
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(settings: BosSettings, bucket: str, data: Path, reps: int) -> dict[str, dict]:
    """Seconds of each run, by case and method; the methods take turns at going first."""
    client = plain_client(settings)
    client_same = plain_client(settings, Config(request_checksum_calculation=settings.checksums,
                                                response_checksum_validation=settings.checksums))
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    storages = {
        "ours": S3Storage(settings, data / "cache"),
        "ours+crc": with_default_checksums(settings, data / "cache"),
    }
    seconds: dict[str, dict] = {case: {name: [] for name in METHODS} for case in CASES}
    for rep in range(reps):
        for case in CASES:
            directory = data / case.replace(" ", "-")
            runs = {"plain": partial(plain_upload, client, bucket, directory),
                    "plain-same": partial(plain_upload, client_same, bucket, directory)}
            for name, storage in storages.items():
                runs[name] = partial(synced_upload, storage, bucket, directory)
            turn = rep % len(METHODS)
            order = list(METHODS)[turn:] + list(METHODS)[:turn]
            for name in order:
                seconds[case][name].append(timed(runs[name], client, bucket))
    empty(client, bucket)
    return seconds


def report(console: Console, seconds: dict[str, dict], store: str, load: tuple) -> None:
    table = Table(title=f"Output sync of 1 GiB to {store} ({os.cpu_count()} cores)")
    for column in ("case", "method", "runs (s)", "median s", "MiB/s", "vs plain",
                   "vs plain, same checksums"):
        table.add_column(column)
    for case, by_method in seconds.items():
        medians = {name: statistics.median(runs) for name, runs in by_method.items()}
        for name, label in METHODS.items():
            ratios = ("", "")
            if name in LIKE_FOR_LIKE:
                ratios = (f"{medians['plain'] / medians[name]:.2f}",
                          f"{medians[LIKE_FOR_LIKE[name]] / medians[name]:.2f}")
            runs = " ".join(f"{s:.1f}" for s in by_method[name])
            median = medians[name]
            table.add_row(case, label, runs, f"{median:.2f}", f"{1024 / median:.0f}", *ratios)
    console.print(table)
    console.print(f"load average before/after: {load[0]:.1f} / {load[1]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bucket", default="bmlocal-bench")
    args = parser.parse_args()
    console = Console(width=140)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        data = Path(tmp)
        console.print("writing 2 x 1 GiB of test files...")
        for case, count in CASES.items():
            write_files(data / case.replace(" ", "-"), count)
        settings = bos_settings({}, os.environ)
        stop = None
        if settings is None:
            endpoint, stop = start_moto(data / "moto")
            settings = BosSettings(endpoint, ACCESS_KEY, SECRET_KEY)
        load_before = os.getloadavg()[0]
        try:
            seconds = measure(settings, args.bucket, data, args.reps)
        finally:
            if stop:
                stop()
        store = "moto on 127.0.0.1" if stop else settings.endpoint
        report(console, seconds, store, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
