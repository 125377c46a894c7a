package replication

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// logStableStore is what raft-boltdb's store is: the log and the stable
// store in one file.
type logStableStore interface {
	raft.LogStore
	raft.StableStore
}

// diskGuard sits under raft's log cache and watches every append to the
// group's log store. When one fails (ENOSPC, EIO, a read-only remount) the
// replica must not lead: raft itself steps a leader down when its own append
// fails, and the guard keeps the replica from campaigning again (see
// gatedTransport) until a write to the store succeeds: a later append (a
// follower receiving entries), or the guard's probe, which writes a value as
// large as the failed append (up to maxProbeBytes) to the same store every
// Config.DiskProbeInterval.
//
// Without it a replica on a full disk keeps winning elections (its log is as
// long as anyone's), fails to append its first entry, steps down, and wins
// again, so its group never has a leader that can commit.
type diskGuard struct {
	logStableStore
	group string
	g     *Group // for logs; nil in unit tests

	failed atomic.Pointer[error] // the last append error while unhealthy; nil when healthy
	// hostFailing counts the groups of this host whose store cannot append
	// (shared by the host's guards: its groups share a disk); nil in unit
	// tests of one guard.
	hostFailing *atomic.Int32

	mu       sync.Mutex
	probeN   int // bytes the probe writes
	probing  bool
	stop     chan struct{}
	wg       sync.WaitGroup // the probe goroutine
	interval time.Duration
}

// maxProbeBytes caps the probe write.
const maxProbeBytes = 4 << 20

// probeKey is the stable-store key the probe writes (and empties again).
var probeKey = []byte("shoal_disk_probe")

func newDiskGuard(s logStableStore, group string, interval time.Duration) *diskGuard {
	return &diskGuard{logStableStore: s, group: group, interval: interval, stop: make(chan struct{})}
}

// StoreLog implements raft.LogStore.
func (d *diskGuard) StoreLog(l *raft.Log) error { return d.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore and records whether the append worked.
func (d *diskGuard) StoreLogs(logs []*raft.Log) error {
	err := d.logStableStore.StoreLogs(logs)
	if err == nil {
		d.healthy("append")
		return nil
	}
	n := 0
	for _, l := range logs {
		n += len(l.Data) + len(l.Extensions) + 32
	}
	d.fail(err, n)
	return err
}

// err returns the append error that makes the replica unhealthy, or nil.
func (d *diskGuard) err() error {
	if p := d.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *diskGuard) fail(err error, n int) {
	e := fmt.Errorf("replication: %s: log store append failed: %w", d.group, err)
	first := d.failed.Swap(&e) == nil
	if first && d.hostFailing != nil {
		d.hostFailing.Add(1)
	}
	d.mu.Lock()
	d.probeN = min(max(n, 4096), maxProbeBytes)
	start := !d.probing
	if start {
		select {
		case <-d.stop:
			start = false // closed
		default:
			d.probing = true
			d.wg.Add(1)
		}
	}
	d.mu.Unlock()
	if first && d.g != nil {
		d.g.log.Error("replication: log store append failed; this replica steps down and does not campaign until a write succeeds", "err", err)
	}
	if start {
		go d.probe()
	}
}

func (d *diskGuard) healthy(how string) {
	if d.failed.Swap(nil) != nil {
		if d.hostFailing != nil {
			d.hostFailing.Add(-1)
		}
		if d.g != nil {
			d.g.log.Warn("replication: log store writable again; this replica may lead", "by", how)
		}
	}
}

// probe writes to the store every interval until the store is healthy
// again (by this write or by an append) or the guard closes. It clears
// probing under mu only after seeing the store healthy under mu, so that a
// failure racing with its exit either keeps it going or starts a new probe.
func (d *diskGuard) probe() {
	defer d.wg.Done()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		d.mu.Lock()
		if d.err() == nil {
			d.probing = false
			d.mu.Unlock()
			return
		}
		n := d.probeN
		d.mu.Unlock()
		select {
		case <-d.stop:
			d.mu.Lock()
			d.probing = false
			d.mu.Unlock()
			return
		case <-t.C:
		}
		err := d.logStableStore.Set(probeKey, make([]byte, n))
		if err == nil {
			err = d.logStableStore.Set(probeKey, nil)
		}
		if err == nil {
			d.healthy("probe")
		}
	}
}

// close stops the probe and waits for it; the store itself is closed by the
// group, after this.
func (d *diskGuard) close() {
	d.mu.Lock()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.mu.Unlock()
	d.wg.Wait()
	if d.failed.Swap(nil) != nil && d.hostFailing != nil {
		d.hostFailing.Add(-1)
	}
}

// campaignErr is why this replica must not campaign: its own store cannot
// append, or another group's on the same host cannot (they share a disk;
// this group would fail its first append as leader), or nil.
func (d *diskGuard) campaignErr() error {
	if err := d.err(); err != nil {
		return err
	}
	if d.hostFailing != nil && d.hostFailing.Load() > 0 {
		return errors.New("replication: another group's log store on this host cannot append")
	}
	return nil
}

// ErrNotCampaigning is the error of the vote requests a replica does not send
// while its log store cannot append.
var ErrNotCampaigning = errors.New("replication: not campaigning while the log store cannot append")

// gatedTransport is the group's transport as raft sees it: the network
// transport, except that vote and pre-vote requests fail at once while the
// guard reports the log store unhealthy. raft counts a failed request as a
// refused vote, so the replica cannot win an election; with pre-vote (on by
// default) it does not even raise its term, and it turns follower again as
// soon as a leader's heartbeat reaches it. Everything else (answering votes,
// heartbeats, replication) goes on.
type gatedTransport struct {
	*raft.NetworkTransport
	guard *diskGuard
}

var (
	_ raft.WithPreVote = gatedTransport{}
	_ raft.WithClose   = gatedTransport{}
)

// RequestVote implements raft.Transport.
func (t gatedTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if err := t.guard.campaignErr(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotCampaigning, err)
	}
	return t.NetworkTransport.RequestVote(id, target, args, resp)
}

// RequestPreVote implements raft.WithPreVote.
func (t gatedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if err := t.guard.campaignErr(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotCampaigning, err)
	}
	return t.NetworkTransport.RequestPreVote(id, target, args, resp)
}

// DiskErr returns the log-store append error that keeps this replica from
// leading, or nil when its last write succeeded.
func (g *Group) DiskErr() error {
	if g.guard == nil {
		return nil
	}
	return g.guard.err()
}
