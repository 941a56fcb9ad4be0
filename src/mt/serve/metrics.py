"""Prometheus metrics of the server, in a registry of its own (``GET /metrics``).

    mt_serve_requests_total{endpoint,status}   requests answered
    mt_serve_errors_total{reason}              requests refused or failed, by reason
    mt_serve_request_seconds{endpoint}         latency, arrival to answer
    mt_serve_batch_requests                    requests merged into one decoding call
    mt_serve_batch_sentences                   sentences in one decoding call
    mt_serve_queue_depth                       requests waiting to be decoded
"""

from __future__ import annotations

from mt.utils.extras import require

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The server's metrics; each instance has its own registry (several apps in one process)."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "serve", "serve.py")
        self.registry = prom.CollectorRegistry()
        self._prom = prom
        self.requests = prom.Counter("mt_serve_requests", "Requests answered", ["endpoint", "status"],
                                     registry=self.registry)
        self.errors = prom.Counter("mt_serve_errors", "Requests refused or failed, by reason", ["reason"],
                                   registry=self.registry)
        self.latency = prom.Histogram("mt_serve_request_seconds", "Time from a request's arrival to its answer",
                                      ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_requests = prom.Histogram("mt_serve_batch_requests", "Requests merged into one decoding call",
                                             buckets=_BATCH_BUCKETS, registry=self.registry)
        self.batch_sentences = prom.Histogram("mt_serve_batch_sentences", "Sentences in one decoding call",
                                              buckets=_BATCH_BUCKETS, registry=self.registry)
        self.decode_seconds = prom.Histogram("mt_serve_decode_seconds", "Time of one decoding call in the model",
                                             buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.decoding = prom.Gauge("mt_serve_decoding_calls", "Decoding calls running now", registry=self.registry)
        self.queue_depth = prom.Gauge("mt_serve_queue_depth", "Requests waiting to be decoded",
                                      registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        """The text format Prometheus scrapes, and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (``mt_serve_batch_requests_count``, ...), for tests and logs."""
        return self.registry.get_sample_value(name, labels or {})
