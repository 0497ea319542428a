package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	goredislib "github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/conformance"
)

// The floors send the commands a Redlock round needs and nothing more:
// SET key token NX PX ttl to every node in parallel, and a compare-and-delete
// script to every node to release. A try that misses the quorum releases
// the nodes it got, as any correct Redlock must. Each handle has one fixed
// random token. Waiting is a busy retry with no delay, which bounds what
// any hand-off can cost: about one round trip after the release.

// releaseLua deletes the key only if it holds our token.
const releaseLua = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`

func floorContenders() []contender {
	return []contender{
		{name: "floor/goredis", kind: floor, maxN: 5, open: func(addrs []string) (locks, error) {
			l := &goredisFloor{script: goredislib.NewScript(releaseLua)}
			for _, addr := range addrs {
				l.clients = append(l.clients, newGoredisClient(addr))
			}
			return l, nil
		}},
		{name: "floor/socket", kind: floor, maxN: 5, open: openSocketFloor},
	}
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// busyWait retries try with no delay until it acquires or ctx ends.
func busyWait(ctx context.Context, h handle) error {
	for {
		ok, err := h.try(ctx)
		if ok || err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// goredisFloor is the floor through go-redis: one goroutine per node
// beyond the first, which the calling goroutine serves itself.
type goredisFloor struct {
	clients []*goredislib.Client
	script  *goredislib.Script
}

func (l *goredisFloor) handle(name string) (handle, error) {
	return &goredisFloorHandle{l: l, key: name, token: randomToken(), granted: make([]bool, len(l.clients)), errs: make([]error, len(l.clients))}, nil
}

func (l *goredisFloor) close() {
	for _, c := range l.clients {
		c.Close()
	}
}

type goredisFloorHandle struct {
	l       *goredisFloor
	key     string
	token   string
	granted []bool
	errs    []error
}

// each runs fn for every node in parallel and returns the first error.
func (h *goredisFloorHandle) each(fn func(i int)) error {
	var wg sync.WaitGroup
	for i := 1; i < len(h.l.clients); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	fn(0)
	wg.Wait()
	return errors.Join(h.errs...)
}

func (h *goredisFloorHandle) try(ctx context.Context) (bool, error) {
	err := h.each(func(i int) {
		h.granted[i], h.errs[i] = h.l.clients[i].SetNX(ctx, h.key, h.token, ttl).Result()
	})
	n := 0
	for _, g := range h.granted {
		if g {
			n++
		}
	}
	if n >= quorum(len(h.granted)) && err == nil {
		return true, nil
	}
	h.releaseGranted(ctx)
	return false, err
}

func (h *goredisFloorHandle) releaseGranted(ctx context.Context) {
	for i, g := range h.granted {
		if g {
			h.l.script.Run(ctx, h.l.clients[i], []string{h.key}, h.token)
		}
	}
}

func (h *goredisFloorHandle) release(ctx context.Context) error {
	return h.each(func(i int) {
		h.errs[i] = h.l.script.Run(ctx, h.l.clients[i], []string{h.key}, h.token).Err()
	})
}

func (h *goredisFloorHandle) wait(ctx context.Context) error { return busyWait(ctx, h) }
func (h *goredisFloorHandle) close()                         {}

// socketFloor is the floor through plain sockets: one goroutine writes the
// command to all N connections, then reads the N replies. Each handle
// takes a set of N connections of its own from the instance's idle sets
// (dialling a new set when none is idle) and gives it back when closed,
// as a connection pool would; its commands are encoded once per handle.
type socketFloor struct {
	addrs []string
	sha   string
	mu    sync.Mutex
	idle  []*connSet
}

// connSet is one connection to each server.
type connSet struct {
	conns  []net.Conn
	rds    []*bufio.Reader
	renew  time.Time // when to push the connections' deadline forward
	broken bool      // an exchange failed: close it rather than reuse it
}

func openSocketFloor(addrs []string) (locks, error) {
	l := &socketFloor{addrs: addrs}
	for _, addr := range addrs {
		c := conformance.Dial(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := c.Do(ctx, "SCRIPT", "LOAD", releaseLua)
		cancel()
		c.Close()
		if err != nil {
			return nil, err
		}
		l.sha = fmt.Sprint(v)
	}
	return l, nil
}

func (l *socketFloor) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cs := range l.idle {
		cs.close()
	}
	l.idle = nil
}

// get returns an idle connection set, or dials a new one.
func (l *socketFloor) get() (*connSet, error) {
	l.mu.Lock()
	if n := len(l.idle); n > 0 {
		cs := l.idle[n-1]
		l.idle = l.idle[:n-1]
		l.mu.Unlock()
		return cs, nil
	}
	l.mu.Unlock()
	cs := &connSet{}
	for _, addr := range l.addrs {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			cs.close()
			return nil, err
		}
		cs.conns = append(cs.conns, nc)
		cs.rds = append(cs.rds, bufio.NewReader(nc))
	}
	return cs, nil
}

// put makes cs idle again, or closes it if it broke.
func (l *socketFloor) put(cs *connSet) {
	if cs.broken {
		cs.close()
		return
	}
	l.mu.Lock()
	l.idle = append(l.idle, cs)
	l.mu.Unlock()
}

func (cs *connSet) close() {
	for _, nc := range cs.conns {
		nc.Close()
	}
}

func (l *socketFloor) handle(name string) (handle, error) {
	cs, err := l.get()
	if err != nil {
		return nil, err
	}
	token := randomToken()
	return &socketHandle{
		l:       l,
		cs:      cs,
		set:     encode("SET", name, token, "NX", "PX", strconv.FormatInt(ttl.Milliseconds(), 10)),
		del:     encode("EVALSHA", l.sha, "1", name, token),
		granted: make([]bool, len(l.addrs)),
	}, nil
}

type socketHandle struct {
	l        *socketFloor
	cs       *connSet
	set, del []byte
	granted  []bool
}

// encode returns a command as a RESP array of bulk strings.
func encode(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// deadline keeps every exchange bounded without a timer per command: the
// connections' deadline is moved 5s ahead every 2s.
func (cs *connSet) deadline() error {
	now := time.Now()
	if now.Before(cs.renew) {
		return nil
	}
	for _, nc := range cs.conns {
		if err := nc.SetDeadline(now.Add(5 * time.Second)); err != nil {
			return err
		}
	}
	cs.renew = now.Add(2 * time.Second)
	return nil
}

// exchange writes cmd to the connections where send[i] holds (all of
// them when send is nil), then reads their replies into fn.
// A failed exchange marks the connections broken, as replies may be left
// unread on them.
func (h *socketHandle) exchange(cmd []byte, send []bool, fn func(i int, line []byte)) error {
	err := h.cs.exchange(cmd, send, fn)
	if err != nil {
		h.cs.broken = true
	}
	return err
}

func (cs *connSet) exchange(cmd []byte, send []bool, fn func(i int, line []byte)) error {
	if err := cs.deadline(); err != nil {
		return err
	}
	for i, nc := range cs.conns {
		if send == nil || send[i] {
			if _, err := nc.Write(cmd); err != nil {
				return err
			}
		}
	}
	for i, rd := range cs.rds {
		if send != nil && !send[i] {
			continue
		}
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if line[0] == '-' {
			return fmt.Errorf("%s: %s", cs.conns[i].RemoteAddr(), line[1:len(line)-2])
		}
		fn(i, line)
	}
	return nil
}

func (h *socketHandle) try(context.Context) (bool, error) {
	n := 0
	err := h.exchange(h.set, nil, func(i int, line []byte) {
		h.granted[i] = line[0] == '+' // +OK; a refusal is the nil bulk $-1
		if h.granted[i] {
			n++
		}
	})
	if err != nil {
		return false, err
	}
	if n >= quorum(len(h.granted)) {
		return true, nil
	}
	if n > 0 {
		return false, h.exchange(h.del, h.granted, func(int, []byte) {})
	}
	return false, nil
}

func (h *socketHandle) release(context.Context) error {
	n := 0
	err := h.exchange(h.del, nil, func(i int, line []byte) {
		if string(line) == ":1\r\n" {
			n++
		}
	})
	if err == nil && n < quorum(len(h.granted)) {
		err = errors.New("floor: release not confirmed by a quorum")
	}
	return err
}

func (h *socketHandle) wait(ctx context.Context) error { return busyWait(ctx, h) }

// close gives the handle's connections back to the instance.
func (h *socketHandle) close() { h.l.put(h.cs) }
