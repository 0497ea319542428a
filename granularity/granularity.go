// Package granularity decides who owns a lock.
//
// The value a lock stores on every node is its owner's token. Two
// acquisitions with the same token are the same owner: with refresh on (the
// default of core), the second one succeeds and resets the lock's TTL instead
// of being refused. The owner also decides who may release or extend a lock.
//
// A token is a secret: anyone who can compute it can release the lock. Every
// Owner in this package derives its token from random bytes that never leave
// the owner's scope, so tokens do not collide across hosts, containers or
// reused PIDs, and cannot be guessed from outside.
package granularity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
)

// Owner decides which token identifies the holder of a lock.
//
// ID is called with the context of each Lock, TryLock, Unlock and Extend
// call, and with handle, a random identifier unique to one core.Mutex value.
// It returns the token to store at the lock key, or an error when ctx does
// not name an owner (core then fails the call with that error). ID must be
// safe for concurrent use and must return the same token for the same owner.
type Owner interface {
	ID(ctx context.Context, handle string) (string, error)
}

// OwnerFunc adapts a function to Owner.
type OwnerFunc func(ctx context.Context, handle string) (string, error)

// ID calls f(ctx, handle).
func (f OwnerFunc) ID(ctx context.Context, handle string) (string, error) { return f(ctx, handle) }

// Handle returns the default Owner: each core.Mutex value is its own owner,
// identified by 128 random bits drawn when the Mutex is made. Two Mutex values
// for the same name exclude each other even inside one goroutine.
func Handle() Owner { return handleOwner{} }

type handleOwner struct{}

func (handleOwner) ID(_ context.Context, handle string) (string, error) { return handle, nil }

// Process returns an Owner under which every Mutex of this process is the
// same owner: a lock taken through one handle is refreshed, extended or
// released through any other handle of the process.
//
// The token derives from 128 random bits drawn once per process (the
// process secret, which never leaves the process). It does not depend on
// the PID, so containers (PID 1 everywhere) and PID reuse cannot make two
// processes one owner.
func Process() Owner { return processOwner{} }

type processOwner struct{}

func (processOwner) ID(context.Context, string) (string, error) { return processToken, nil }

var (
	processSecret = []byte(Random())
	processToken  = "p:" + mac(processSecret, "process")
)

// Random returns 128 bits from crypto/rand, encoded as 22 URL-safe base64
// characters. It panics only if the operating system's random source fails,
// which crypto/rand itself treats as fatal.
func Random() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("redlock: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
