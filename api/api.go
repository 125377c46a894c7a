// Package api holds the JSON bodies of shoal's HTTP API, version 1. The
// coordinator serves them and the Go client sends them; both import only this
// package, so the wire contract lives in one place. docs/http-api.md describes
// every endpoint.
//
//	req := api.SearchRequest{K: 10, Sparse: &api.SparseVector{Indices: []uint32{3, 17}, Values: []float32{0.4, 1.3}}}
package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// PathPrefix is the prefix of every versioned endpoint.
const PathPrefix = "/v1"

// Limits that the coordinator enforces on requests.
const (
	// MaxBatch is the largest number of documents in one upsert request.
	MaxBatch = 10000
	// MaxK is the largest k a search may ask for.
	MaxK = 1000
	// MaxBodyBytes is the largest request body the coordinator reads.
	MaxBodyBytes = 64 << 20
	// MaxShards is the largest shard count of a collection.
	MaxShards = 256
	// MaxReplication is the largest replication factor.
	MaxReplication = 7
	// MaxDim is the largest dense or multi-vector dimension.
	MaxDim = 4096
	// MaxVectorsPerDoc is the largest number of vectors in one multi-vector.
	MaxVectorsPerDoc = 4096
)

// Metric names.
const (
	MetricIP     = "ip"
	MetricCosine = "cosine"
	MetricL2     = "l2"
)

// Attribute kinds.
const (
	AttrKeyword = "keyword"
	AttrInt     = "int"
	AttrFloat   = "float"
)

// CollectionSpec is the body of POST /v1/collections and the schema of a
// collection. At least one of Sparse, Dense and Multivector is required.
type CollectionSpec struct {
	Name string `json:"name"`
	// Shards is the number of shards; default 1.
	Shards int `json:"shards,omitempty"`
	// Replication is the number of replicas of each shard; default 3, or the
	// number of live nodes when fewer.
	Replication int               `json:"replication,omitempty"`
	Sparse      *SparseField      `json:"sparse,omitempty"`
	Dense       *DenseField       `json:"dense,omitempty"`
	Multivector *MultivectorField `json:"multivector,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// SparseField declares a sparse vector field. Term ids must be < MaxTerm.
type SparseField struct {
	MaxTerm uint32 `json:"max_term"`
	// Index tunes the Seismic indexes of sealed segments; absent fields keep
	// the defaults (docs/seismic.md).
	Index *SparseIndex `json:"index,omitempty"`
}

// Sparse index kinds (SparseIndex.Kind).
const (
	SparseKindSeismic = "seismic"
	SparseKindExact   = "exact"
)

// SparseIndex holds the sparse index settings of a collection. By default
// every sealed segment derives its Seismic build parameters from its own
// data and calibrates itself against exact scoring; searches then ask each
// segment for the settings that reach TargetRecall (docs/seismic.md).
type SparseIndex struct {
	// Kind is "seismic" (default) or "exact" (no Seismic index: sparse
	// vectors are scored exactly).
	Kind string `json:"kind,omitempty"`
	// TargetRecall is the recall@10 against exact search that searches aim
	// for, in (0, 1]; default 0.95. A query may ask for another with
	// params.target_recall. 1 scores every segment exactly.
	TargetRecall float64 `json:"target_recall,omitempty"`
	// QueryCut and HeapFactor, when set, are fixed Seismic knobs used by
	// every search that does not give its own, instead of the segments'
	// calibration. Default 0 (calibrated).
	QueryCut   int     `json:"query_cut,omitempty"`
	HeapFactor float32 `json:"heap_factor,omitempty"`
	// AutoKeep, when set, replaces the adaptive pruning by the global rule
	// keeping this fraction of all postings, in (0, 1]. Default 0
	// (adaptive).
	AutoKeep float64 `json:"auto_keep,omitempty"`
	// Alpha, when set, is the fraction of each block's L1 mass its summary
	// keeps, in (0, 1]. Default 0 (derived from the data).
	Alpha float64 `json:"alpha,omitempty"`
}

// DenseField declares a dense vector field.
type DenseField struct {
	Dim int `json:"dim"`
	// Metric is ip, cosine or l2; default cosine.
	Metric string `json:"metric,omitempty"`
	// Codec names the compressed storage of sealed segments (f32, f16, sq8,
	// sq4, pq, binary, rabitq); default f32.
	Codec string `json:"codec,omitempty"`
}

// MultivectorField declares a multi-vector (late-interaction) field, scored
// with MaxSim.
type MultivectorField struct {
	Dim int `json:"dim"`
	// Metric is ip or cosine; default ip.
	Metric string `json:"metric,omitempty"`
}

// Collection is what GET /v1/collections/{name} returns: the schema and
// where its shards live.
type Collection struct {
	CollectionSpec
	Placement []ShardPlacement `json:"placement"`
}

// ShardPlacement names the nodes holding one shard's replicas.
type ShardPlacement struct {
	Shard    int      `json:"shard"`
	Replicas []string `json:"replicas"`
	Leader   string   `json:"leader,omitempty"`
	// Segments is the leader's write buffer (state "buffer") and sealed
	// segments.
	Segments []Segment `json:"segments,omitempty"`
}

// Segment describes a shard's write buffer or one sealed segment.
type Segment struct {
	ID      uint64 `json:"id"`
	Docs    int    `json:"docs"`
	Deleted int    `json:"deleted"`
	Bytes   int64  `json:"bytes"`
	// State is buffer, building (searched exactly until its indexes are
	// built), ready, or exact (too small to index).
	State string `json:"state"`
	// Sparse describes a ready segment's Seismic index: its calibration at
	// the collection's target recall and what its build derived.
	Sparse *SparseCalibration `json:"sparse,omitempty"`
}

// SparseCalibration is a segment's Seismic calibration at the collection's
// target recall, measured at build time against exact scoring on
// pseudo-queries drawn from the segment's documents.
type SparseCalibration struct {
	// Calibrated is false for an index without a calibration table (built
	// before calibration existed); it then searches with fixed defaults.
	Calibrated bool `json:"calibrated"`
	// Target is the table's recall target used (the first at or above the
	// collection's target_recall).
	Target float32 `json:"target,omitempty"`
	// ExpectedRecall is the recall@10 measured at the chosen settings.
	ExpectedRecall float32 `json:"expected_recall,omitempty"`
	// QueryCut, HeapFactor and KNN are the chosen settings.
	QueryCut   int     `json:"query_cut,omitempty"`
	HeapFactor float32 `json:"heap_factor,omitempty"`
	KNN        bool    `json:"knn,omitempty"`
	// Exact is set when no setting reached the target: the segment's
	// sparse vectors are scored exactly.
	Exact bool `json:"exact,omitempty"`
	// ExactPreferred is set when an exact path would serve the target
	// better (not reached, or reached below a 2x speed-up).
	ExactPreferred bool `json:"exact_preferred,omitempty"`
	// Speedup estimates the work saved against exact term-at-a-time
	// scoring.
	Speedup float32 `json:"speedup,omitempty"`
	// Flatness, Alpha and KeptShare are what the adaptive build derived:
	// the mean flatness of the posting lists (1: every value equal), the
	// summary mass share, and the share of postings kept.
	Flatness  float64 `json:"flatness,omitempty"`
	Alpha     float64 `json:"alpha,omitempty"`
	KeptShare float64 `json:"kept_share,omitempty"`
}

// CollectionList is the body of GET /v1/collections.
type CollectionList struct {
	Collections []Collection `json:"collections"`
}

// SparseVector is a sparse vector: strictly ascending term ids, one positive
// or negative finite value per id.
type SparseVector struct {
	Indices []uint32  `json:"indices"`
	Values  []float32 `json:"values"`
}

// Document is one stored document. Attributes hold strings for keyword
// fields and numbers for int and float fields.
type Document struct {
	ID          string         `json:"id"`
	Sparse      *SparseVector  `json:"sparse,omitempty"`
	Dense       []float32      `json:"dense,omitempty"`
	Multivector [][]float32    `json:"multivector,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// UpsertRequest is the body of POST /v1/collections/{name}/documents. Upsert
// replaces each document whole.
type UpsertRequest struct {
	Documents []Document `json:"documents"`
}

// WriteResponse answers an upsert or delete once it is committed through raft
// and applied on the leader. Token can be passed as a search's consistency to
// read this write.
type WriteResponse struct {
	Upserted int    `json:"upserted,omitempty"`
	Deleted  int    `json:"deleted,omitempty"`
	Token    string `json:"token"`
}

// Consistency levels.
const (
	ConsistencyEventual = "eventual"
	ConsistencyStrong   = "strong"
)

// Consistency selects how fresh a read must be: Level "eventual" (any
// replica, the default), "strong" (the leader after a read barrier), or a
// Token from a write response (any replica that has applied that write). In
// JSON it is either a string level or an object {"token": "..."}.
type Consistency struct {
	Level string
	Token string
}

// MarshalJSON encodes c as a string level or a {"token": ...} object.
func (c Consistency) MarshalJSON() ([]byte, error) {
	if c.Token != "" {
		return json.Marshal(struct {
			Token string `json:"token"`
		}{c.Token})
	}
	return json.Marshal(c.Level)
}

// UnmarshalJSON accepts "eventual", "strong" or {"token": "..."}.
func (c *Consistency) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Consistency{Level: s}
		return nil
	}
	var o struct {
		Token *string `json:"token"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.Token == nil {
		return fmt.Errorf(`want "eventual", "strong" or {"token": "..."}`)
	}
	*c = Consistency{Token: *o.Token}
	return nil
}

// Fusion methods for queries with several modalities.
const (
	FusionRRF    = "rrf"
	FusionLinear = "linear"
)

// SearchRequest is the body of POST /v1/collections/{name}/search. At least
// one of Sparse, Dense and Multivector is required; with several, their
// ranked lists are fused (reciprocal rank fusion unless Fusion says linear).
type SearchRequest struct {
	// K is the number of hits; default 10, at most MaxK.
	K           int           `json:"k,omitempty"`
	Sparse      *SparseVector `json:"sparse,omitempty"`
	Dense       []float32     `json:"dense,omitempty"`
	Multivector [][]float32   `json:"multivector,omitempty"`
	// Filter keeps documents whose attributes match every entry: a value
	// (equality), a list (any of), or for numbers {"gte": x, "lte": y}.
	Filter      map[string]any `json:"filter,omitempty"`
	Consistency *Consistency   `json:"consistency,omitempty"`
	// Fusion is rrf (default) or linear; Weights weigh the modalities by
	// name ("sparse", "dense", "multivector"), default 1 each.
	Fusion  string             `json:"fusion,omitempty"`
	Weights map[string]float32 `json:"weights,omitempty"`
	// AllowPartial returns the hits of the shards that answered when some
	// did not, instead of failing.
	AllowPartial bool `json:"allow_partial,omitempty"`
	// Params tunes the indexes of sealed segments; absent fields keep the
	// defaults.
	Params *SearchParams `json:"params,omitempty"`
}

// SearchParams are the per-query index knobs.
type SearchParams struct {
	// QueryCut is how many of the sparse query's largest components Seismic
	// walks (default: from the segments' calibration).
	QueryCut int `json:"query_cut,omitempty"`
	// HeapFactor lets Seismic skip a block whose summary score is below
	// heap_factor × the k-th best score (default 0.7; higher is faster and
	// less exact). Either query_cut or heap_factor set makes the search use
	// fixed knobs instead of the segments' calibration.
	HeapFactor float32 `json:"heap_factor,omitempty"`
	// TargetRecall asks every segment for the Seismic settings its
	// calibration found to reach this recall@10, in (0, 1] (default: the
	// collection's sparse.index.target_recall, 0.95 unless set).
	TargetRecall float64 `json:"target_recall,omitempty"`
	// NProbe is the IVF lists a dense (or multi-vector candidate) table scans.
	NProbe int `json:"nprobe,omitempty"`
	// Oversample multiplies k for the dense candidates re-scored at full
	// precision.
	Oversample int `json:"oversample,omitempty"`
	// Candidates is how many multi-vector candidates are reranked by exact
	// MaxSim (default 10·k).
	Candidates int `json:"candidates,omitempty"`
	// Exact scores every document exactly, ignoring the indexes: the ground
	// truth, at the cost of speed.
	Exact bool `json:"exact,omitempty"`
}

// Hit is one search result.
type Hit struct {
	ID    string  `json:"id"`
	Score float32 `json:"score"`
}

// Coverage says how many shards a search reached and how many answered.
type Coverage struct {
	Shards   int `json:"shards"`
	Answered int `json:"answered"`
}

// SearchResponse is the answer to a search.
type SearchResponse struct {
	Hits     []Hit    `json:"hits"`
	Coverage Coverage `json:"coverage"`
}

// Health is the body of GET /v1/health.
type Health struct {
	// Status is "ok", "degraded" (some shard cannot commit writes; see
	// Shards), or why the cluster cannot serve at all.
	Status string `json:"status"`
	// Shards names the shards that cannot commit writes, when degraded.
	Shards []ShardHealth `json:"shards,omitempty"`
}

// ShardHealth says why a shard cannot commit writes.
type ShardHealth struct {
	Collection string `json:"collection"`
	Shard      int    `json:"shard"`
	// Reason is "no leader" (no replica answers as leader: an election is
	// under way, or the leader is paused or cut off) or "stale leader" (the
	// replica that answers as leader is behind another replica's term).
	Reason string `json:"reason"`
}

// ClusterStatus is the body of GET /v1/cluster.
type ClusterStatus struct {
	Nodes  []NodeStatus  `json:"nodes"`
	Shards []ShardStatus `json:"shards"`
}

// NodeStatus describes one registered node.
type NodeStatus struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Alive    bool   `json:"alive"`
}

// ShardStatus describes the replicas of one shard of a collection.
type ShardStatus struct {
	Collection string          `json:"collection"`
	Shard      int             `json:"shard"`
	Replicas   []ReplicaStatus `json:"replicas"`
}

// ReplicaStatus is one replica's raft state as that replica reports it.
type ReplicaStatus struct {
	Node         string `json:"node"`
	Role         string `json:"role"`
	Term         uint64 `json:"term"`
	AppliedIndex uint64 `json:"applied_index"`
	LastIndex    uint64 `json:"last_index"`
	Documents    int    `json:"documents"`
	Error        string `json:"error,omitempty"`
	// Segments is the replica's write buffer and sealed segments.
	Segments []Segment `json:"segments,omitempty"`
}

// Error codes carried in ErrorBody.Code.
const (
	CodeBadRequest  = "bad_request"
	CodeNotFound    = "not_found"
	CodeConflict    = "conflict"
	CodeTooLarge    = "too_large"
	CodeUnavailable = "unavailable"
	CodeTimeout     = "timeout"
	CodeInternal    = "internal"
)

// CodeForStatus returns the error code the API sends with an HTTP status.
func CodeForStatus(status int) string {
	switch status {
	case 400:
		return CodeBadRequest
	case 401:
		return CodeUnauthorized
	case 403:
		return CodeForbidden
	case 404:
		return CodeNotFound
	case 409:
		return CodeConflict
	case 413:
		return CodeTooLarge
	case 503:
		return CodeUnavailable
	case 504:
		return CodeTimeout
	}
	return CodeInternal
}

// ErrorResponse is the body of every 4xx and 5xx answer.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes a failed request. Field names the offending request
// field, as a JSON path such as "documents[3].dense[7]", when there is one.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}
