"""A service's own account of what it did, read from its GET /metrics: the evidence that a
fault really happened (it retried, it deduplicated, each competing consumer applied work)."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def samples(http: httpx.AsyncClient, url: str) -> Samples:
    text = (await http.get(f"{url}/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= set(ls))


async def metric(http: httpx.AsyncClient, url: str, name: str, **labels: str) -> float:
    return total(await samples(http, url), name, **labels)
