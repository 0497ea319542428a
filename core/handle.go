package core

import (
	crand "crypto/rand"
	"encoding/base64"
	"math/rand/v2"
	"sync"
)

// newHandle returns a Mutex's random identity (see granularity.Handle): 128
// bits, as 22 URL-safe base64 characters, from a ChaCha8 generator seeded
// from crypto/rand. ChaCha8 is cryptographically strong, so identities
// cannot be guessed from outside the process, and making a Mutex costs no
// system call: a generator is seeded only when the pool has none.
func newHandle() string {
	g := handleSources.Get().(*rand.ChaCha8)
	var b [16]byte
	_, _ = g.Read(b[:]) // never fails
	handleSources.Put(g)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var handleSources = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never returns an error
	return rand.NewChaCha8(seed)
}}
