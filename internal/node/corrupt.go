package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// corruptFiles counts the damaged files a node found, by kind: segment index
// files ("sparse", "dense", "dense.rescore", "multi", "ok"; the shard
// rebuilds them) and raft files ("raft_db", "raft_snapshots"; the group is
// quarantined and re-syncs from its peers). It is exported as
// shoal_corrupt_files_total{kind}.
type corruptFiles struct {
	vec *prometheus.CounterVec
}

func newCorruptFiles(node string, reg prometheus.Registerer) (*corruptFiles, error) {
	c := &corruptFiles{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "shoal_corrupt_files_total",
		Help:        "Stored files that failed their checksum or consistency checks, by kind; none of them was served.",
		ConstLabels: prometheus.Labels{"node": node},
	}, []string{"kind"})}
	if reg != nil {
		if err := reg.Register(c.vec); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			c.vec = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return c, nil
}

// report is the OnCorrupt hook of the node's shards and raft host; they log
// the file themselves.
func (c *corruptFiles) report(kind, _ string, _ error) {
	c.vec.WithLabelValues(kind).Inc()
}
