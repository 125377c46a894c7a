package replication

import "github.com/prometheus/client_golang/prometheus"

// metrics exports every open group's raft state at scrape time.
type metrics struct {
	h                                                       *Host
	role, term, last, commit, applied, props, perr, restore *prometheus.Desc
	diskOK                                                  *prometheus.Desc
}

func newMetrics(h *Host) *metrics {
	labels := []string{"group"}
	c := prometheus.Labels{"node": h.cfg.NodeID}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_replication_"+name, help, labels, c)
	}
	return &metrics{
		h:       h,
		role:    d("is_leader", "1 if this replica is the group's leader."),
		term:    d("term", "Current raft term."),
		last:    d("last_index", "Last log index."),
		commit:  d("commit_index", "Last committed log index."),
		applied: d("applied_index", "Last index applied to the state machine."),
		props:   d("proposals_total", "Proposals made on this replica."),
		perr:    d("proposal_errors_total", "Proposals that returned an error (not leader, timeout, apply error)."),
		restore: d("snapshot_restores_total", "Snapshots restored into the state machine."),
		diskOK:  d("disk_ok", "0 while the replica's log store fails appends (it then neither leads nor campaigns), else 1."),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.role, m.term, m.last, m.commit, m.applied, m.props, m.perr, m.restore, m.diskOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, id := range m.h.Groups() {
		g := m.h.Group(id)
		if g == nil {
			continue
		}
		leader := 0.0
		if g.IsLeader() {
			leader = 1
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, id)
		}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), id)
		}
		gauge(m.role, leader)
		gauge(m.term, float64(g.r.CurrentTerm()))
		gauge(m.last, float64(g.r.LastIndex()))
		gauge(m.commit, float64(g.r.CommitIndex()))
		gauge(m.applied, float64(g.AppliedIndex()))
		counter(m.props, g.proposals.Load())
		counter(m.perr, g.proposeErrors.Load())
		counter(m.restore, g.restores.Load())
		diskOK := 1.0
		if g.DiskErr() != nil {
			diskOK = 0
		}
		gauge(m.diskOK, diskOK)
	}
}
