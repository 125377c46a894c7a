package clustertest_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/replication"
	"github.com/shoal-search/shoal/shard"
	"github.com/shoal-search/shoal/shard/seismic"
)

// TestCorruptSeismicFileInCluster overwrites stored values (ids intact) in
// a sealed segment's Seismic file on one replica, as a bad disk would,
// restarts that node, and checks that the file is detected, counted and
// rebuilt, and that no search ever returns a hit whose score is not its
// document's exact score (the phantom hits of issue 13).
func TestCorruptSeismicFileInCluster(t *testing.T) {
	cfg := shard.DefaultConfig()
	cfg.SealDocs = 1000
	cfg.MinIndexDocs = 200
	cfg.Seismic.Values = seismic.ValueF32 // values stored as float32, found by their bits
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Shard: &cfg})
	createCollection(t, c, api.CollectionSpec{Name: "ic", Shards: 1, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}})
	r := rand.New(rand.NewPCG(13, 13))
	stored := map[string]*api.Document{}
	for i := 0; i < 600; i += 100 {
		var b []api.Document
		for j := i; j < i+100; j++ {
			b = append(b, api.Document{ID: docID(j), Sparse: randSparse(r, 1000, 15)})
		}
		upsert(t, c, "ic", b)
		for j := range b {
			stored[b[j].ID] = &b[j]
		}
	}
	var col api.Collection
	c.MustDo(t, "POST", "/v1/collections/ic/seal", nil, &col)
	waitSegmentsReady(t, c.Do, "ic", "seal", 3)

	const victim = 2 // node n3
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(c.Opts.Dir, "nodes", "n3", "segments", "*", "seg-*.sparse"))
	if len(files) != 1 {
		t.Fatalf("sparse files on n3: %v, want 1", files)
	}
	// Every stored 0.5 becomes 495: a few postings of a few documents.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	from := binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.5))
	to := binary.LittleEndian.AppendUint32(nil, math.Float32bits(495))
	bad := bytes.Clone(b)
	n := 0
	for off := 128; off+4 <= len(bad)-8; off += 4 { // aligned values only, header and trailer kept
		if bytes.Equal(bad[off:off+4], from) {
			copy(bad[off:], to)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no stored value 0.5 to overwrite")
	}
	t.Logf("overwrote %d stored values", n)
	// Behind the checksum the damage is invisible: with the trailer
	// recomputed, the file passes every structural check.
	fixed := bytes.Clone(bad)
	body := fixed[:len(fixed)-8]
	binary.LittleEndian.PutUint32(fixed[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	if _, err := seismic.Load(bytes.NewReader(fixed)); err != nil {
		t.Fatalf("values-only damage with a valid checksum should load (that is what the checksum is for): %v", err)
	}
	if err := os.WriteFile(files[0], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(t.Context(), victim); err != nil {
		t.Fatal(err)
	}
	// Queries on the damaged terms: every document holding a 0.5.
	var queries []*api.SparseVector
	for id := range stored {
		d := stored[id]
		for k, v := range d.Sparse.Values {
			if v == 0.5 {
				queries = append(queries, &api.SparseVector{Indices: []uint32{d.Sparse.Indices[k]}, Values: []float32{1}})
			}
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, metrics := c.Do("GET", "/metrics", nil, nil)
		if regexp.MustCompile(`shoal_corrupt_files_total\{kind="sparse",node="n3"\} 1`).Match(metrics) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not report the corrupt file; metrics:\n%s", grepLines(metrics, "corrupt"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	check := func(when string) {
		t.Helper()
		for qi, q := range queries {
			for rep := 0; rep < 6; rep++ {
				sr := search(t, c, "ic", api.SearchRequest{K: 10, Sparse: q})
				for _, h := range sr.Hits {
					want := sparseDot(q, stored[h.ID].Sparse)
					if math.Abs(float64(h.Score-want)) > 1e-3*math.Max(1, float64(want)) {
						t.Fatalf("%s: query %d: hit %s scored %v, its exact score is %v (phantom)", when, qi, h.ID, h.Score, want)
					}
				}
			}
		}
	}
	check("while n3 rebuilds")
	waitSegmentsReady(t, c.Do, "ic", "rebuild", 3)
	check("after the rebuild")
	rebuilt, err := seismic.Load(bytes.NewReader(mustReadFile(t, files[0])))
	if err != nil {
		t.Fatalf("the rebuilt file does not load: %v", err)
	}
	if rebuilt.Len() != 600 {
		t.Fatalf("rebuilt index has %d rows, want 600", rebuilt.Len())
	}
}

// TestCorruptRaftStoreInCluster damages one group's raft.db on one node and
// restarts the node: the node stays up, its other group serves from its own
// state, and the damaged group re-syncs from its peers.
func TestCorruptRaftStoreInCluster(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	for _, name := range []string{"ra", "rb"} {
		createCollection(t, c, api.CollectionSpec{Name: name, Shards: 1, Replication: 3, Sparse: &api.SparseField{MaxTerm: 100}})
	}
	r := rand.New(rand.NewPCG(17, 17))
	stored := map[string]map[string]*api.Document{"ra": {}, "rb": {}}
	write := func(name string, from, to int) {
		var b []api.Document
		for j := from; j < to; j++ {
			b = append(b, api.Document{ID: docID(j), Sparse: randSparse(r, 100, 5)})
		}
		upsert(t, c, name, b)
		for j := range b {
			stored[name][b[j].ID] = &b[j]
		}
	}
	for _, name := range []string{"ra", "rb"} {
		for i := 0; i < 200; i += 50 {
			write(name, i, i+50)
		}
	}
	var col api.Collection
	c.MustDo(t, "GET", "/v1/collections/ra", nil, &col)
	const victim = 2
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	dbs, _ := filepath.Glob(filepath.Join(c.Opts.Dir, "nodes", "n3", "raft", "ra-*", "raft.db"))
	if len(dbs) != 1 {
		t.Fatalf("raft stores of ra on n3: %v, want 1", dbs)
	}
	raw, err := os.ReadFile(dbs[0])
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	for off := 2 * ps; off+64 <= len(raw); off += ps {
		for i := range 64 {
			raw[off+i] = byte(0x5a ^ i)
		}
	}
	if err := os.WriteFile(dbs[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(t.Context(), victim); err != nil {
		t.Fatalf("node did not start with a corrupt raft store: %v", err)
	}
	for _, name := range []string{"ra", "rb"} {
		write(name, 200, 220)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var cl api.ClusterStatus
		c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
		ok := 0
		for _, sh := range cl.Shards {
			for _, rs := range sh.Replicas {
				if rs.Node == "n3" && rs.Documents == len(stored[sh.Collection]) {
					ok++
				}
			}
		}
		if ok == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not catch up on both groups: %+v", cl.Shards)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if moved, _ := filepath.Glob(dbs[0] + ".corrupt-*"); len(moved) != 1 {
		t.Fatalf("quarantined stores %v, want one %s.corrupt-*", moved, dbs[0])
	}
	_, metrics := c.Do("GET", "/metrics", nil, nil)
	if !regexp.MustCompile(`shoal_corrupt_files_total\{kind="raft_db",node="n3"\} 1`).Match(metrics) {
		t.Fatalf("n3 did not count the corrupt raft store; metrics:\n%s", grepLines(metrics, "corrupt"))
	}
	for _, name := range []string{"ra", "rb"} {
		for qi := 0; qi < 10; qi++ {
			q := randSparse(r, 100, 4)
			for rep := 0; rep < 3; rep++ {
				sr := search(t, c, name, api.SearchRequest{K: 10, Sparse: q, Params: &api.SearchParams{Exact: true}})
				sameHits(t, fmt.Sprintf("%s query %d", name, qi), sr.Hits, exactSparse(stored[name], q, 10))
			}
		}
	}
}

// TestCorruptSnapshotInCluster damages the raft snapshots (the segments'
// documents) of a group on one node: the node stays up, moves the group's
// snapshots and log aside, and re-syncs the group from its peers.
func TestCorruptSnapshotInCluster(t *testing.T) {
	cfg := shard.DefaultConfig()
	cfg.SealDocs = 100
	cfg.MinIndexDocs = 50
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Shard: &cfg,
		Raft: replication.Config{SnapshotThreshold: 16, SnapshotInterval: 200 * time.Millisecond, TrailingLogs: 4}})
	createCollection(t, c, api.CollectionSpec{Name: "cs", Shards: 1, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}})
	r := rand.New(rand.NewPCG(19, 19))
	stored := map[string]*api.Document{}
	load := func(from, to int) {
		for i := from; i < to; i += 10 {
			var b []api.Document
			for j := i; j < min(i+10, to); j++ {
				b = append(b, api.Document{ID: docID(j), Sparse: randSparse(r, 1000, 15)})
			}
			upsert(t, c, "cs", b)
			for j := range b {
				stored[b[j].ID] = &b[j]
			}
		}
	}
	load(0, 400)
	const victim = 2
	var states []string
	deadline := time.Now().Add(time.Minute)
	for len(states) == 0 {
		states, _ = filepath.Glob(filepath.Join(c.Opts.Dir, "nodes", "n3", "raft", "cs-*", "snapshots", "*", "state.bin"))
		if time.Now().After(deadline) {
			t.Fatal("n3 took no snapshot")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	states, _ = filepath.Glob(filepath.Join(c.Opts.Dir, "nodes", "n3", "raft", "cs-*", "snapshots", "*", "state.bin"))
	for _, p := range states {
		b := mustReadFile(t, p)
		b[len(b)/2] ^= 0x20
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartNode(t.Context(), victim); err != nil {
		t.Fatalf("node did not start with corrupt snapshots: %v", err)
	}
	load(400, 450)
	deadline = time.Now().Add(time.Minute)
	for {
		var cl api.ClusterStatus
		c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
		caught := false
		for _, rs := range cl.Shards[0].Replicas {
			if rs.Node == "n3" && rs.Documents == len(stored) {
				caught = true
			}
		}
		if caught {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not re-sync: %+v", cl.Shards[0].Replicas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if moved, _ := filepath.Glob(filepath.Join(c.Opts.Dir, "nodes", "n3", "raft", "cs-*", "snapshots.corrupt-*")); len(moved) != 1 {
		t.Fatalf("quarantined snapshot directories: %v, want 1", moved)
	}
	_, metrics := c.Do("GET", "/metrics", nil, nil)
	if !regexp.MustCompile(`shoal_corrupt_files_total\{kind="raft_snapshots",node="n3"\} 2`).Match(metrics) {
		t.Fatalf("n3 did not count the quarantined snapshots and log; metrics:\n%s", grepLines(metrics, "corrupt"))
	}
	waitSegmentsBuilt(t, c)
	for qi := 0; qi < 10; qi++ {
		q := randSparse(r, 1000, 20)
		for rep := 0; rep < 3; rep++ {
			sr := search(t, c, "cs", api.SearchRequest{K: 10, Sparse: q, Params: &api.SearchParams{Exact: true}})
			sameHits(t, fmt.Sprintf("query %d", qi), sr.Hits, exactSparse(stored, q, 10))
		}
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
