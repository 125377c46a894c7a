package faulttest

import (
	"sync"
	"time"
)

// Kinds of recorded operations.
const (
	// OpWrite is an upsert of one document; Value is the version written.
	OpWrite = "write"
	// OpDelete deletes one document; it writes the value 0 (absent).
	OpDelete = "delete"
	// OpStrongRead is a GET with consistency strong; Value is the version
	// read, 0 when the document was not found.
	OpStrongRead = "strong-read"
	// OpEventualRead is a GET with the default (eventual) consistency.
	OpEventualRead = "eventual-read"
)

// Outcomes of a write.
const (
	// Acked: the API answered 200, the write is committed.
	Acked = "acked"
	// Failed: the API answered 4xx (or refused the connection), the write
	// certainly did not happen.
	Failed = "failed"
	// Unknown: a 5xx, a timeout or a broken connection; the write may or may
	// not have happened, now or later.
	Unknown = "unknown"
)

// Op is one operation of a history, on one key.
type Op struct {
	Client int    `json:"client"`
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	// Value is the version written (0 for a delete) or read (0 for not
	// found).
	Value int64 `json:"value"`
	// Call and Return are nanoseconds since the history began.
	Call   int64 `json:"call"`
	Return int64 `json:"return"`
	// Outcome is Acked, Failed or Unknown for writes; Acked for reads that
	// answered (reads that did not answer are not recorded).
	Outcome string `json:"outcome"`
	Status  int    `json:"status"`
}

// History records operations from many goroutines.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
	// failedReads counts reads that got no answer (any non-200/404).
	failedReads int
}

// NewHistory starts an empty history; times are measured from now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now returns the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// ReadFailed counts a read that got no usable answer.
func (h *History) ReadFailed() {
	h.mu.Lock()
	h.failedReads++
	h.mu.Unlock()
}

// Ops returns a copy of the recorded operations.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Counts summarises a history.
type Counts struct {
	WritesAcked   int `json:"writes_acked"`
	WritesFailed  int `json:"writes_failed"`
	WritesUnknown int `json:"writes_unknown"`
	StrongReads   int `json:"strong_reads"`
	EventualReads int `json:"eventual_reads"`
	ReadsFailed   int `json:"reads_failed"`
}

// SlowestAcked returns the longest acknowledged write or delete.
func (h *History) SlowestAcked() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var d time.Duration
	for _, op := range h.ops {
		if (op.Kind == OpWrite || op.Kind == OpDelete) && op.Outcome == Acked {
			d = max(d, time.Duration(op.Return-op.Call))
		}
	}
	return d
}

// Counts returns the history's operation counts.
func (h *History) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := Counts{ReadsFailed: h.failedReads}
	for _, op := range h.ops {
		switch op.Kind {
		case OpWrite, OpDelete:
			switch op.Outcome {
			case Acked:
				c.WritesAcked++
			case Failed:
				c.WritesFailed++
			default:
				c.WritesUnknown++
			}
		case OpStrongRead:
			c.StrongReads++
		case OpEventualRead:
			c.EventualReads++
		}
	}
	return c
}
