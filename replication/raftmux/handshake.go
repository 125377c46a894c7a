package raftmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic opens every multiplexed connection.
const Magic = "SHRM"

// Version is the handshake version written by this package.
const Version = 1

// MaxGroupLen is the longest group id a handshake carries, in bytes.
const MaxGroupLen = 255

// handshakeHeaderLen is magic + version + group length.
const handshakeHeaderLen = len(Magic) + 1 + 2

var (
	// ErrBadMagic reports a connection that does not start with Magic.
	ErrBadMagic = errors.New("raftmux: bad handshake magic")
	// ErrBadVersion reports a handshake version this package does not read.
	ErrBadVersion = errors.New("raftmux: unsupported handshake version")
	// ErrBadGroup reports an empty or too long group id.
	ErrBadGroup = errors.New("raftmux: bad group id")
)

// ValidGroup reports an error if group cannot travel in a handshake.
func ValidGroup(group string) error {
	if len(group) == 0 || len(group) > MaxGroupLen {
		return fmt.Errorf("%w: length %d, want 1..%d", ErrBadGroup, len(group), MaxGroupLen)
	}
	return nil
}

// AppendHandshake appends the handshake for group to dst and returns the
// extended slice. The group must satisfy ValidGroup.
func AppendHandshake(dst []byte, group string) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, Version)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(group)))
	return append(dst, group...)
}

// ReadHandshake reads one handshake from r and returns its group id. It reads
// exactly the handshake's bytes and nothing after them.
func ReadHandshake(r io.Reader) (string, error) {
	var hdr [handshakeHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", fmt.Errorf("raftmux: read handshake: %w", err)
	}
	if string(hdr[:len(Magic)]) != Magic {
		return "", ErrBadMagic
	}
	if v := hdr[len(Magic)]; v != Version {
		return "", fmt.Errorf("%w: %d", ErrBadVersion, v)
	}
	n := int(binary.BigEndian.Uint16(hdr[len(Magic)+1:]))
	if n == 0 || n > MaxGroupLen {
		return "", fmt.Errorf("%w: length %d, want 1..%d", ErrBadGroup, n, MaxGroupLen)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("raftmux: read handshake group: %w", err)
	}
	return string(buf), nil
}
