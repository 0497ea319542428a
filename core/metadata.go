package core

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxMetadata is the longest metadata WithMetadata takes, in bytes.
const MaxMetadata = 256

// WithMetadata stores meta with the lock on every node, as a short
// description of its owner for the people and programs that inspect it
// (see Locker.Inspect): a host name, a job ID, an address. It must be
// valid UTF-8 of at most MaxMetadata bytes. The default is none.
//
// The metadata is part of the owner's identity: it is stored in the owner
// prefix of the lock's value (the owner ID, "|", the metadata, "|"), so
// handles of a shared owner (granularity.Process, Host, Task) share a lock
// only when their metadata is equal too; with different metadata they
// exclude each other like different owners. With metadata set, the owner
// ID must not contain "|" (no Owner of package granularity makes one), or
// the calls fail with an error: the ID and the metadata could not be told
// apart. Metadata is not a secret, but it is no proof of ownership either:
// anyone who can write to the nodes can write any metadata.
func WithMetadata(meta string) Option {
	return func(o *options) {
		switch {
		case len(meta) > MaxMetadata:
			o.fail("metadata of %d bytes: at most %d", len(meta), MaxMetadata)
		case !utf8.ValidString(meta):
			o.fail("metadata is not valid UTF-8")
		default:
			o.metadata = meta
		}
	}
}

var errBarInOwner = errors.New(`redlock: an owner ID with metadata (WithMetadata) may not contain "|"`)

// ownerPrefix returns the owner prefix of the values that owner id stores
// with metadata meta: id + "|", or id + "|" + meta + "|".
func ownerPrefix(id, meta string) (string, error) {
	if meta == "" {
		return id + "|", nil
	}
	if strings.Contains(id, "|") {
		return "", errBarInOwner
	}
	return id + "|" + meta + "|", nil
}

// Fingerprint names the owner whose ID is id without revealing it: the
// first 6 hex digits of the SHA-1 of the ID. Whoever knows an owner's ID
// can release its locks; its fingerprint tells owners apart, for people,
// and nothing more. Inspect and the command line show owners so.
func Fingerprint(id string) string {
	sum := sha1.Sum([]byte(id))
	return hex.EncodeToString(sum[:3])
}

// parsedValue is what the value at a lock key says (see acquire.lua): the
// owner ID and metadata of its prefix, its claims and its token.
type parsedValue struct {
	id, meta, prefix string
	claims           int
	token            uint64
}

// parseValue reads a lock value, from its end: the count of claims k (2
// hex digits), the token F (16), the claims (16 each), and the owner
// prefix before them, which ends in "|". The owner ID is the prefix up to
// its first "|", the metadata what lies between that and the last one. It
// reports false for a value that is not a lock's.
func parseValue(v string) (parsedValue, bool) {
	if len(v) < 19 {
		return parsedValue{}, false
	}
	k, ok := parseHex(v[len(v)-2:])
	if !ok || len(v) < 16*int(k)+19 {
		return parsedValue{}, false
	}
	token, ok := parseHex(v[len(v)-18 : len(v)-2])
	prefix := v[:len(v)-18-16*int(k)]
	if !ok || prefix[len(prefix)-1] != '|' {
		return parsedValue{}, false
	}
	id, meta, _ := strings.Cut(prefix[:len(prefix)-1], "|")
	return parsedValue{id: id, meta: meta, prefix: prefix, claims: int(k), token: token}, true
}

// parseHex reads lower-case hex digits, as the scripts write them.
func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
