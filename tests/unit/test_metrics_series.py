"""The API's request series (bmlocal/metrics.py): a Prometheus histogram's `le` buckets,
cumulative, read back with Prometheus' own parser."""
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bmlocal.metrics import RequestSeries


def samples(series: RequestSeries) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(series)
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_each_request_lands_in_every_bucket_from_its_own_up() -> None:
    series = RequestSeries()
    for seconds in (0.0005, 0.001, 0.003, 0.2, 30.0):  # 0.001 is on a bound: le includes it
        series.add("detail", 0, seconds)
    series.add("detail", 406012, 0.002)
    got = samples(series)

    def bucket(le: str, code: str = "0") -> float:
        return got[("bmlocal_api_request_duration_seconds_bucket",
                    (("code", code), ("le", le), ("operation", "detail")))]
    assert [bucket(le) for le in ("0.001", "0.0025", "0.005", "0.25", "10.0", "+Inf")] == \
        [2, 2, 3, 4, 4, 5]
    assert bucket("0.0025", "406012") == 1 and bucket("0.001", "406012") == 0
    assert got[("bmlocal_api_requests_total", (("code", "0"), ("operation", "detail")))] == 5
    total = got[("bmlocal_api_request_duration_seconds_sum",
                 (("code", "0"), ("operation", "detail")))]
    assert abs(total - 30.2045) < 1e-9
