package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/shoal-search/shoal/internal/atomicfile"
)

// A damaged raft store quarantines its group, never the process:
//
//   - Before raft.db is opened, checkBolt verifies its structure without
//     bbolt (which can panic in its own goroutines on a damaged file).
//   - The store is opened with panics recovered, and every stored entry and
//     the stable keys are read back once (raft panics on an entry it cannot
//     read while it applies).
//   - When the newest snapshot fails raft's CRC (checkNewestSnapshot), or
//     raft cannot load any of the group's snapshots (the state machine's
//     own checks failed), the snapshots are unusable and the log alone
//     cannot rebuild the state.
//
// In each case the damaged files are renamed aside with a
// ".corrupt-<UTC time>" suffix (the directory is synced), logged with their
// paths, reported to Config.OnCorrupt, and the group opens again from
// empty raft state without bootstrapping: it has no configuration, never
// campaigns, and waits for the leader, which still counts it as a member,
// to send it the log or a snapshot. Other groups of the node are not
// touched.

// Kinds of corrupt files reported to Config.OnCorrupt.
const (
	CorruptRaftStore = "raft_db"
	CorruptSnapshots = "raft_snapshots"
)

// errSnapshotsUnusable marks a NewRaft failure to load any stored snapshot.
var errSnapshotsUnusable = errors.New("no stored snapshot could be loaded")

// openLogStore opens group's raft.db in dir, quarantining it first when it
// fails its checks. quarantined reports that the group starts from empty
// raft state.
func (h *Host) openLogStore(group, dir string) (store *raftboltdb.BoltStore, quarantined bool, err error) {
	path := filepath.Join(dir, "raft.db")
	for attempt := 0; ; attempt++ {
		bad := error(nil)
		if _, serr := os.Stat(path); serr == nil {
			bad = checkBolt(path)
			if bad != nil && !errors.Is(bad, ErrCorruptStore) {
				return nil, false, bad // could not read it: not evidence of damage
			}
		}
		if bad == nil {
			store, bad = h.openBolt(path)
			if bad != nil && !errors.Is(bad, ErrCorruptStore) {
				return nil, false, bad
			}
		}
		if bad == nil {
			if bad = verifyStore(path, store); bad != nil {
				store.Close()
			}
		}
		if bad == nil {
			return store, quarantined, nil
		}
		if attempt > 0 {
			// A fresh file failed too: not something a quarantine fixes.
			return nil, true, bad
		}
		if err := h.quarantine(group, CorruptRaftStore, bad, path); err != nil {
			return nil, false, err
		}
		quarantined = true
	}
}

// openBolt opens the bbolt log store with panics recovered.
func (h *Host) openBolt(path string) (store *raftboltdb.BoltStore, err error) {
	defer func() {
		if r := recover(); r != nil {
			store, err = nil, fmt.Errorf("%w: %s: bbolt: %v", ErrCorruptStore, path, r)
		}
	}()
	store, err = raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true},
		NoSync:      h.cfg.NoSync,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("log store %s: %w", path, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptStore, path, err)
	}
	return store, nil
}

// verifyStore reads back every log entry and the stable keys raft uses, so
// that an entry that cannot be decoded is found now rather than by raft,
// which panics on it.
func verifyStore(path string, s *raftboltdb.BoltStore) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: reading entries: %v", ErrCorruptStore, path, r)
		}
	}()
	first, err := s.FirstIndex()
	if err != nil {
		return fmt.Errorf("%w: %s: first index: %v", ErrCorruptStore, path, err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return fmt.Errorf("%w: %s: last index: %v", ErrCorruptStore, path, err)
	}
	if first > last && last != 0 {
		return fmt.Errorf("%w: %s: first index %d after last %d", ErrCorruptStore, path, first, last)
	}
	var l raft.Log
	for i := first; i <= last && last != 0; i++ {
		if err := s.GetLog(i, &l); err != nil {
			return fmt.Errorf("%w: %s: entry %d: %v", ErrCorruptStore, path, i, err)
		}
		if l.Index != i {
			return fmt.Errorf("%w: %s: entry %d holds index %d", ErrCorruptStore, path, i, l.Index)
		}
	}
	for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
		if _, err := s.GetUint64([]byte(k)); err != nil && !isNotFound(err) {
			return fmt.Errorf("%w: %s: %s: %v", ErrCorruptStore, path, k, err)
		}
	}
	if _, err := s.Get([]byte("LastVoteCand")); err != nil && !isNotFound(err) {
		return fmt.Errorf("%w: %s: LastVoteCand: %v", ErrCorruptStore, path, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, raftboltdb.ErrKeyNotFound) }

// checkNewestSnapshot opens the group's newest stored snapshot, which makes
// raft's file store verify its CRC-64 over the whole file. raft itself
// would fall back to an older snapshot, whose log tail may already be
// compacted away; a damaged newest snapshot therefore counts as unusable
// state, and the group re-syncs from its peers instead.
func checkNewestSnapshot(snaps raft.SnapshotStore) error {
	metas, err := snaps.List()
	if err != nil {
		return fmt.Errorf("%w: list: %w", errSnapshotsUnusable, err)
	}
	if len(metas) == 0 {
		return nil
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %w", errSnapshotsUnusable, metas[0].ID, err)
	}
	return rc.Close()
}

// quarantine renames each of paths aside with a ".corrupt-<UTC time>"
// suffix, syncs their directory, and reports the damage.
func (h *Host) quarantine(group, kind string, cause error, paths ...string) error {
	suffix := ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		to := p + suffix
		if err := atomicfile.Rename(p, to); err != nil {
			return fmt.Errorf("replication: quarantine %s: %w", p, err)
		}
		h.corrupt.Add(1)
		h.log.Error("replication: corrupt raft state quarantined; the group re-syncs from its peers",
			"group", group, "kind", kind, "file", p, "moved_to", to, "err", cause)
		if h.cfg.OnCorrupt != nil {
			h.cfg.OnCorrupt(kind, p, cause)
		}
	}
	return nil
}

// CorruptStores returns how many raft files (stores, snapshot directories)
// this Host has quarantined.
func (h *Host) CorruptStores() int64 { return h.corrupt.Load() }
