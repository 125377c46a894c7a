// Package raftmux multiplexes many raft groups over one TCP listener per node.
//
// Every connection opened by [Layer.Dial] starts with a small handshake that
// names the group it is for:
//
//	magic   4 bytes  "SHRM"
//	version 1 byte   1
//	length  2 bytes  big-endian length of the group id (1..MaxGroupLen)
//	group   length bytes
//
// The [Mux] reads the handshake of every accepted connection (under a
// deadline) and hands the connection to the [Layer] registered for that group,
// whose Accept returns it. A connection for an unknown group, with a bad magic
// or an unsupported version is closed. Nothing is written back: the dialer
// learns of a rejection when its first read or write fails.
//
// A Layer has the shape of hashicorp/raft's StreamLayer (net.Listener plus
// Dial), except that Dial takes a plain string address so that this package
// needs only the standard library; package replication adapts it.
//
//	mux, err := raftmux.Listen("127.0.0.1:0", raftmux.DefaultConfig())
//	if err != nil { ... }
//	defer mux.Close()
//	layer, err := mux.Layer("shard-0")
//	if err != nil { ... }
//	conn, err := layer.Dial(otherNodeAddr, time.Second) // peer's layer for "shard-0" accepts it
package raftmux
