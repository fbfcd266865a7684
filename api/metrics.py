"""Prometheus metrics: HTTP traffic (counted in this process), and jobs by status, queue depth
and step durations (read from the job records at scrape time, so every API process reports
the same fleet-wide figures)."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from api.records import Job, JobStatus, WebhookDelivery, utcnow

if TYPE_CHECKING:
    from api.service import Service

__all__ = ["build_registry", "observe_request", "render"]

_HTTP_REGISTRY = CollectorRegistry()
_REQUESTS = Counter(
    "preflight_http_requests",
    "HTTP requests answered, by method, route and status",
    ["method", "route", "status"],
    registry=_HTTP_REGISTRY,
)
_LATENCY = Histogram(
    "preflight_http_request_seconds",
    "HTTP request latency",
    ["route"],
    registry=_HTTP_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
_RECENT_JOBS = 500  # step durations are summarised over the newest finished jobs


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    _REQUESTS.labels(method, route, str(status)).inc()
    _LATENCY.labels(route).observe(seconds)


class _JobCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        counts = self.service.counts_by_status()
        by_status = GaugeMetricFamily(
            "preflight_jobs", "Jobs in the records, by status", labels=["status"]
        )
        for status in JobStatus.ALL:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield GaugeMetricFamily(
            "preflight_queue_depth",
            "Jobs waiting for a worker (queued)",
            value=counts.get(JobStatus.QUEUED, 0),
        )
        with self.service.db.session() as session:
            timings = session.scalars(
                select(Job.report)
                .where(Job.status == JobStatus.DONE)
                .order_by(Job.finished_at.desc())
                .limit(_RECENT_JOBS)
            ).all()
            pending_hooks = session.scalar(
                select(func.count()).where(WebhookDelivery.status == "pending")
            )
            oldest_queued = session.scalar(
                select(func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED)
            )
            overdue = session.scalar(
                select(func.count()).where(
                    Job.status == JobStatus.RUNNING, Job.lease_until < utcnow()
                )
            )
        steps: dict[str, list[float]] = {}
        for report in timings:
            for step, ms in (report or {}).get("timings_ms", {}).items():
                steps.setdefault(step, []).append(float(ms) / 1000)
        durations = GaugeMetricFamily(
            "preflight_job_step_seconds",
            f"Step duration over the newest {_RECENT_JOBS} finished jobs (median and p90)",
            labels=["step", "quantile"],
        )
        for step, values in sorted(steps.items()):
            durations.add_metric([step, "0.5"], statistics.median(values))
            ordered = sorted(values)
            durations.add_metric(
                [step, "0.9"], ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
            )
        yield durations
        yield GaugeMetricFamily(
            "preflight_webhooks_pending",
            "Webhook deliveries waiting to be sent or retried",
            value=pending_hooks or 0,
        )
        age = (utcnow() - oldest_queued).total_seconds() if oldest_queued else 0.0
        yield GaugeMetricFamily(
            "preflight_oldest_queued_seconds",
            "Age of the oldest job still waiting for a worker (0 when none waits)",
            value=max(0.0, age),
        )
        yield GaugeMetricFamily(
            "preflight_jobs_lease_expired",
            "Running jobs whose worker stopped renewing the lease (requeued within seconds)",
            value=overdue or 0,
        )


def build_registry(service: Service) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_JobCollector(service))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry) + generate_latest(_HTTP_REGISTRY), CONTENT_TYPE_LATEST
