package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "coordinator", Name: "requests_total",
			Help: "HTTP requests by operation and status code.",
		}, []string{"op", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "shoal", Subsystem: "coordinator", Name: "request_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "coordinator", Name: "shard_retries_total",
			Help: "Shard requests retried, by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.retries)
	}
	return m
}
