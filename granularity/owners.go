package granularity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"strings"
)

// Task returns an Owner under which the owner is a task named in the
// context by WithTask: Go has no thread identity, so the task travels with
// the context instead. Handles whose calls carry the same task are one
// owner; calls with another task, or none, are refused (ID fails when ctx
// carries no task).
//
// The token is the HMAC-SHA256 of the task name keyed with this process's
// random secret, so tasks of the same name in two processes are different
// owners and nobody outside the process can compute a task's token.
func Task() Owner { return taskOwner{} }

type taskOwner struct{}

type taskKey struct{}

// WithTask returns a copy of ctx that names the task id as the owner of the
// locks it takes under Task().
func WithTask(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, taskKey{}, id)
}

// ErrNoTask is returned by Task().ID for a context that carries no task.
var ErrNoTask = errors.New("redlock: granularity.Task: the context names no task (see granularity.WithTask)")

func (taskOwner) ID(ctx context.Context, _ string) (string, error) {
	id, ok := ctx.Value(taskKey{}).(string)
	if !ok {
		return "", ErrNoTask
	}
	return "t:" + mac(processSecret, id), nil
}

// Host returns an Owner under which every process on this machine is the
// same owner.
//
// The token is the HMAC-SHA256 of the host name keyed with the machine ID
// (/etc/machine-id or /var/lib/dbus/machine-id) and the kernel's boot ID
// (/proc/sys/kernel/random/boot_id), which only processes on this machine
// can read. Containers on one machine share the kernel's boot ID and often
// an image's machine ID, but have their own host names, so each container is
// its own host; a reboot makes a new owner. ID fails when none of these
// files can be read; use Salted with a secret of your own to add to the key,
// or a custom Owner.
func Host() Owner { return hostOwner{} }

type hostOwner struct{}

func (hostOwner) ID(context.Context, string) (string, error) {
	key := readFirst("/etc/machine-id", "/var/lib/dbus/machine-id") + "/" + readFirst("/proc/sys/kernel/random/boot_id")
	if key == "/" {
		return "", errors.New("redlock: granularity.Host: no machine ID or boot ID to derive a host token from")
	}
	name, err := os.Hostname()
	if err != nil {
		return "", err
	}
	return "h:" + mac([]byte(key), name), nil
}

func readFirst(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

// Salted returns an Owner whose tokens are those of owner, keyed with
// secret by HMAC-SHA256: the same owner gets the same token only where the
// same secret is used, and the token cannot be derived without the secret.
// Use it to separate deployments that share Redis, or to make Host tokens
// depend on a secret of your own.
func Salted(owner Owner, secret []byte) Owner {
	secret = append([]byte(nil), secret...)
	return OwnerFunc(func(ctx context.Context, handle string) (string, error) {
		id, err := owner.ID(ctx, handle)
		if err != nil {
			return "", err
		}
		return "s:" + mac(secret, id), nil
	})
}

func mac(key []byte, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}
