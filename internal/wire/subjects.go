// Package wire holds the protobuf messages that the coordinator and the nodes
// exchange over NATS, the subject names they use, and the error codes they
// share.
//
// Subjects, for collection c and shard s:
//
//	shoal.<c>.<s>.search   every replica, one queue group: eventual and token reads
//	shoal.<c>.<s>.get      every replica, one queue group
//	shoal.<c>.<s>.write    the raft leader only: upserts and deletes
//	shoal.<c>.<s>.strong   the raft leader only: strong searches and gets
//	shoal.node.<id>.status each node: the raft state of its replicas
//
// Regenerate wire.pb.go with `go generate ./internal/wire` (needs protoc and
// protoc-gen-go).
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto

import "fmt"

// Version is the wire protocol version carried in every request.
const Version = 1

// Error codes carried in Error.Code.
const (
	CodeBadRequest  = "bad_request"
	CodeBadVersion  = "bad_version"
	CodeNotLeader   = "not_leader"
	CodeNotFound    = "not_found"
	CodeUnavailable = "unavailable"
	CodeTimeout     = "timeout"
	CodeInternal    = "internal"
)

// SearchSubject is the queue-group subject of a shard's replicas for searches.
func SearchSubject(collection string, shard int) string {
	return fmt.Sprintf("shoal.%s.%d.search", collection, shard)
}

// GetSubject is the queue-group subject of a shard's replicas for gets.
func GetSubject(collection string, shard int) string {
	return fmt.Sprintf("shoal.%s.%d.get", collection, shard)
}

// WriteSubject is the subject that only a shard's raft leader subscribes.
func WriteSubject(collection string, shard int) string {
	return fmt.Sprintf("shoal.%s.%d.write", collection, shard)
}

// StrongSubject is the subject of a shard's leader for strong reads.
func StrongSubject(collection string, shard int) string {
	return fmt.Sprintf("shoal.%s.%d.strong", collection, shard)
}

// QueueGroup is the NATS queue group of a shard's replicas.
func QueueGroup(collection string, shard int) string {
	return fmt.Sprintf("shoal.%s.%d", collection, shard)
}

// StatusSubject is a node's status subject.
func StatusSubject(node string) string {
	return "shoal.node." + node + ".status"
}
