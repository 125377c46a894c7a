package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
)

// ErrCorruptStore reports a raft log store (raft.db) that failed its checks;
// the group that owns it is quarantined (see Host.Open).
var ErrCorruptStore = errors.New("replication: corrupt raft store")

// The bbolt file layout that checkBolt reads (bbolt data format version 2,
// little-endian on the hosts we run on): page 0 and page 1 are meta pages,
// every page starts with a 16-byte header (id u64, flags u16, count u16,
// overflow u32), branch elements are (pos u32, ksize u32, pgid u64) and leaf
// elements (flags u32, pos u32, ksize u32, vsize u32), with keys and values
// at the element's address plus pos. A bucket value is (root pgid u64,
// sequence u64), followed by an inline leaf page when root is 0.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltHeader      = 16
	boltElem        = 16
	boltMetaSize    = 64 // the meta struct; its checksum covers the first 56 bytes
	boltBranch      = 0x01
	boltLeaf        = 0x02
	boltMeta        = 0x04
	boltFreelist    = 0x10
	boltBucketLeaf  = 0x01
	boltNoFreelist  = ^uint64(0)
	boltMaxPageSize = 16 << 20
)

// checkBolt verifies the structure of the bbolt file at path without
// opening it through bbolt, which on a damaged file can panic in a
// goroutine of its own (its freelist rebuild) or fault on an out-of-range
// page, taking the process down. It checks the meta pages' checksums, that
// every page reachable from the root is in range, referenced once, of the
// right type, with its elements inside it and its keys in order, and the
// same for every nested bucket. A file that passes is safe for bbolt to
// open; the values themselves (raft entries) are checked by reading them
// back through the store (see verifyStore).
func checkBolt(path string) (err error) {
	defer func() {
		// The checks index a plain byte slice, so a missed case is an index
		// panic here, never a fault; report it as corruption.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: check failed: %v", ErrCorruptStore, path, r)
		}
	}()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c := &boltChecker{data: data, seen: map[uint64]bool{}}
	if err := c.run(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruptStore, path, err)
	}
	return nil
}

type boltChecker struct {
	data     []byte
	pageSize uint64
	hwm      uint64 // high water mark: pages at or above it are unused
	seen     map[uint64]bool
}

type boltMetaPage struct {
	pageSize, root, freelist, pgid, txid uint64
}

// meta parses and validates the meta struct at off.
func (c *boltChecker) meta(off uint64) (boltMetaPage, error) {
	le := binary.LittleEndian
	if off+boltHeader+boltMetaSize > uint64(len(c.data)) {
		return boltMetaPage{}, errors.New("meta page beyond the end of the file")
	}
	p := c.data[off : off+boltHeader+boltMetaSize]
	if le.Uint16(p[8:])&boltMeta == 0 {
		return boltMetaPage{}, errors.New("meta page has no meta flag")
	}
	m := p[boltHeader:]
	if le.Uint32(m) != boltMagic {
		return boltMetaPage{}, errors.New("bad magic")
	}
	if le.Uint32(m[4:]) != boltVersion {
		return boltMetaPage{}, fmt.Errorf("data format version %d", le.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMetaPage{}, errors.New("meta checksum mismatch")
	}
	return boltMetaPage{pageSize: uint64(le.Uint32(m[8:])), root: le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

func (c *boltChecker) run() error {
	m0, err0 := c.meta(0)
	ps := m0.pageSize
	if err0 != nil {
		ps = uint64(os.Getpagesize())
	}
	if ps < 1024 || ps > boltMaxPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("page size %d", ps)
	}
	m1, err1 := c.meta(ps)
	// bbolt uses the valid meta with the higher transaction id.
	var m boltMetaPage
	switch {
	case err0 != nil && err1 != nil:
		return fmt.Errorf("both meta pages are invalid: %v; %v", err0, err1)
	case err0 != nil:
		m = m1
	case err1 != nil:
		m = m0
	case m1.txid > m0.txid:
		m = m1
	default:
		m = m0
	}
	if m.pageSize != ps {
		return fmt.Errorf("meta pages disagree on the page size (%d, %d)", ps, m.pageSize)
	}
	c.pageSize = ps
	c.hwm = m.pgid
	if c.hwm < 2 || c.hwm > uint64(len(c.data))/ps {
		return fmt.Errorf("high water mark %d pages, file holds %d", c.hwm, uint64(len(c.data))/ps)
	}
	if m.freelist != boltNoFreelist {
		if err := c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root < 2 || m.root >= c.hwm {
		return fmt.Errorf("root bucket page %d out of range", m.root)
	}
	return c.tree(m.root, nil, nil, 0)
}

// page returns the bytes of page id with its overflow pages, after checking
// that they lie below the high water mark and that the page names itself.
func (c *boltChecker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d out of range [2, %d)", id, c.hwm)
	}
	off := id * c.pageSize
	hdr := c.data[off : off+boltHeader]
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d names itself %d", id, got)
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if overflow >= c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages pass the high water mark %d", id, overflow, c.hwm)
	}
	return c.data[off : off+(overflow+1)*c.pageSize], nil
}

func (c *boltChecker) checkFreelist(id uint64) error {
	p, err := c.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(p[8:])&boltFreelist == 0 {
		return fmt.Errorf("freelist page %d has flags %#x", id, le.Uint16(p[8:]))
	}
	start, count := uint64(boltHeader), uint64(le.Uint16(p[10:]))
	if count == 0xFFFF {
		count = le.Uint64(p[boltHeader:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids overrun the page", id, count)
	}
	for i := uint64(0); i < count; i++ {
		if f := le.Uint64(p[start+8*i:]); f < 2 || f >= c.hwm {
			return fmt.Errorf("freelist page %d: free page %d out of range", id, f)
		}
	}
	return nil
}

// tree checks the B+tree rooted at page id; every key must lie in
// [lo, hi) (nil: unbounded). It returns the subtree's largest key.
func (c *boltChecker) tree(id uint64, lo, hi []byte, depth int) error {
	if depth > 64 {
		return fmt.Errorf("page %d: tree deeper than 64 levels", id)
	}
	if c.seen[id] {
		return fmt.Errorf("page %d referenced twice", id)
	}
	p, err := c.page(id)
	if err != nil {
		return err
	}
	for i := uint64(0); i*c.pageSize < uint64(len(p)); i++ {
		if c.seen[id+i] {
			return fmt.Errorf("page %d referenced twice", id+i)
		}
		c.seen[id+i] = true
	}
	_, err = c.nodePage(p, id, lo, hi, depth)
	return err
}

// nodePage checks one branch or leaf page image p (a stored page, or an
// inline bucket's page when id is 0) and recurses into its children and
// nested buckets.
func (c *boltChecker) nodePage(p []byte, id uint64, lo, hi []byte, depth int) ([]byte, error) {
	le := binary.LittleEndian
	if len(p) < boltHeader {
		return nil, fmt.Errorf("page %d: shorter than its header", id)
	}
	flags, count := le.Uint16(p[8:]), uint64(le.Uint16(p[10:]))
	if count*boltElem > uint64(len(p))-boltHeader {
		return nil, fmt.Errorf("page %d: %d elements overrun the page", id, count)
	}
	field := func(at, pos, n uint64, what string, i uint64) ([]byte, error) {
		if pos > uint64(len(p)) || n > uint64(len(p)) || at+pos > uint64(len(p))-n {
			return nil, fmt.Errorf("page %d element %d: %s overruns the page", id, i, what)
		}
		return p[at+pos : at+pos+n], nil
	}
	var prev []byte
	inOrder := func(key []byte, i uint64) error {
		if (prev != nil && bytes.Compare(prev, key) >= 0) || (prev == nil && lo != nil && bytes.Compare(key, lo) < 0) ||
			(hi != nil && bytes.Compare(key, hi) >= 0) {
			return fmt.Errorf("page %d element %d: key out of order", id, i)
		}
		return nil
	}
	switch {
	case flags == boltBranch && id != 0:
		if count == 0 {
			return nil, fmt.Errorf("branch page %d has no elements", id)
		}
		keys := make([][]byte, count)
		for i := uint64(0); i < count; i++ {
			at := boltHeader + i*boltElem
			k, err := field(at, uint64(le.Uint32(p[at:])), uint64(le.Uint32(p[at+4:])), "key", i)
			if err != nil {
				return nil, err
			}
			keys[i] = k
		}
		for i := uint64(0); i < count; i++ {
			if err := inOrder(keys[i], i); err != nil {
				return nil, err
			}
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			at := boltHeader + i*boltElem
			if err := c.tree(le.Uint64(p[at+8:]), keys[i], next, depth+1); err != nil {
				return nil, err
			}
			prev = keys[i]
		}
		return prev, nil
	case flags == boltLeaf:
		for i := uint64(0); i < count; i++ {
			at := boltHeader + i*boltElem
			ef, pos := le.Uint32(p[at:]), uint64(le.Uint32(p[at+4:]))
			ks, vs := uint64(le.Uint32(p[at+8:])), uint64(le.Uint32(p[at+12:]))
			kv, err := field(at, pos, ks+vs, "key and value", i)
			if err != nil {
				return nil, err
			}
			key, val := kv[:ks], kv[ks:]
			if err := inOrder(key, i); err != nil {
				return nil, err
			}
			prev = key
			if ef&boltBucketLeaf == 0 {
				continue
			}
			if len(val) < 16 {
				return nil, fmt.Errorf("page %d element %d: bucket header of %d bytes", id, i, len(val))
			}
			if root := le.Uint64(val); root != 0 {
				if err := c.tree(root, nil, nil, depth+1); err != nil {
					return nil, err
				}
				continue
			}
			inline := val[16:]
			if len(inline) < boltHeader || le.Uint16(inline[8:]) != boltLeaf {
				return nil, fmt.Errorf("page %d element %d: bad inline bucket", id, i)
			}
			if _, err := c.nodePage(inline, 0, nil, nil, depth+1); err != nil {
				return nil, err
			}
		}
		return prev, nil
	}
	return nil, fmt.Errorf("page %d: unexpected flags %#x", id, flags)
}
