package goredis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlock-go/redlock/backend/goredis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// redisAddrs are three independent Redis masters. TestMain points them at
// servers it starts for the examples.
var redisAddrs = []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"}

func TestMain(m *testing.M) { os.Exit(conformance.RunWithServers(m, redisAddrs)) }

func Example() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(10*time.Second))
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	mutex := locker.NewMutex("nightly-report")
	if err := mutex.Lock(ctx); err != nil {
		panic(err)
	}
	fmt.Println("locked, valid for under 10s:", time.Until(mutex.Until()) < 10*time.Second)

	err = locker.NewMutex("nightly-report").TryLock(ctx)
	fmt.Println("second handle:", errors.Is(err, core.ErrNotAcquired))

	if err := mutex.Unlock(ctx); err != nil {
		panic(err)
	}
	// Let the releases still on their way land before the clients close.
	if err := locker.Wait(ctx); err != nil {
		panic(err)
	}
	fmt.Println("unlocked")
	// Output:
	// locked, valid for under 10s: true
	// second handle: true
	// unlocked
}

// Several workers compete for one lock; the winner keeps it alive for a
// job that outlasts its TTL several times, while the others keep trying.
func ExampleNewNode_longRunningJob() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(500*time.Millisecond))
	if err != nil {
		panic(err)
	}

	var mu sync.Mutex
	jobs := 0
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := locker.Do(ctx, "migration", func(ctx context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				if jobs > 0 {
					return nil // the migration ran already
				}
				jobs++
				select { // work for four TTLs; the lock stays alive
				case <-time.After(2 * time.Second):
					return nil
				case <-ctx.Done():
					return context.Cause(ctx) // the lock was lost: stop
				}
			})
			if err != nil {
				fmt.Printf("worker %d: %v\n", worker, err)
			}
		}()
	}
	wg.Wait()
	fmt.Println("migrations run:", jobs)
	// Output:
	// migrations run: 1
}

// store is a resource that takes fencing tokens: it refuses a write whose
// token is lower than the highest it has seen, atomically with the write.
type store struct {
	mu      sync.Mutex
	highest uint64
	value   string
}

var errStaleToken = errors.New("store: stale fencing token")

func (s *store) Write(token uint64, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return errStaleToken
	}
	s.highest, s.value = token, value
	return nil
}

// A holder that pauses past its lease cannot overwrite the work of the next
// holder: its token is lower, and the store refuses it.
func ExampleNewNode_fencing() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(300*time.Millisecond), core.WithFencing())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	var db store

	slow := locker.NewMutex("invoices")
	if err := slow.Lock(ctx); err != nil {
		panic(err)
	}
	// slow stalls here (a long GC pause, say) and its lease runs out...
	fast := locker.NewMutex("invoices")
	if err := fast.Lock(ctx); err != nil { // waits until slow's lock expires
		panic(err)
	}
	fmt.Println("fast's token is higher:", fast.Fence() > slow.Fence())
	fmt.Println("fast writes:", db.Write(fast.Fence(), "from fast"))
	fmt.Println("slow writes late:", db.Write(slow.Fence(), "from slow"))
	fmt.Println("stored:", db.value)
	_ = fast.Unlock(ctx)
	// Output:
	// fast's token is higher: true
	// fast writes: <nil>
	// slow writes late: store: stale fencing token
	// stored: from fast
}

// At most two encoders run at once, across every process that uses the
// semaphore: each holds one of its two slots while it works.
func ExampleNewNode_semaphore() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(time.Second))
	if err != nil {
		panic(err)
	}

	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := locker.DoSemaphore(context.Background(), "encoders", 2, func(ctx context.Context) error {
				mu.Lock()
				running++
				most = max(most, running)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond) // encode, with slot core.SlotOf(ctx)
				mu.Lock()
				running--
				mu.Unlock()
				return nil
			})
			if err != nil {
				panic(err)
			}
		}()
	}
	wg.Wait()
	fmt.Println("encoders at once, at most:", most)

	// One attempt, without waiting: both slots held means ErrNotAcquired.
	ctx := context.Background()
	a, b := locker.NewSemaphore("encoders", 2), locker.NewSemaphore("encoders", 2)
	_ = a.TryAcquire(ctx)
	_ = b.TryAcquire(ctx)
	err = locker.NewSemaphore("encoders", 2).TryAcquire(ctx)
	fmt.Println("a third:", errors.Is(err, core.ErrNotAcquired))
	_ = a.Release(ctx)
	_ = b.Release(ctx)
	_ = locker.Wait(ctx)
	// Output:
	// encoders at once, at most: 2
	// a third: true
}

// An operator's view of a lock: who holds it, as the holder described
// itself with WithMetadata, on how many nodes, and for how long. The owner
// shows as a fingerprint, never as the ID that would let the reader
// release the lock.
func ExampleNewNode_inspect() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(10*time.Second))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	mutex := locker.NewMutex("reindex", core.WithMetadata("search-7, pid 4242"))
	if err := mutex.Lock(ctx); err != nil {
		panic(err)
	}
	_ = locker.Wait(ctx) // every node's write has landed

	info, err := locker.Inspect(ctx, "reindex")
	if err != nil {
		panic(err)
	}
	fmt.Printf("held: %v, on %d of %d nodes, by %q\n", info.Held, info.HeldOn, len(info.Nodes), info.Metadata)
	fmt.Println("owner fingerprint:", len(info.Owner), "hex digits")
	fmt.Println("node 0 TTL under 10s:", info.Nodes[0].TTL <= 10*time.Second)

	_ = mutex.Unlock(ctx)
	_ = locker.Wait(ctx)
	info, _ = locker.Inspect(ctx, "reindex")
	fmt.Println("after Unlock, held:", info.Held)
	// Output:
	// held: true, on 3 of 3 nodes, by "search-7, pid 4242"
	// owner fingerprint: 6 hex digits
	// node 0 TTL under 10s: true
	// after Unlock, held: false
}

// Two schedulers campaign to lead; the leader works until its leadership
// ends (here it resigns; a lost leadership closes Done the same way) and
// the other takes over with a higher term. An observer sees each leader
// with its term.
func ExampleNewNode_election() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(time.Second))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// lead is a scheduler's leader loop: campaign, work while leading,
	// stop the work the moment the leadership ends; campaign again after
	// a loss, step down after a resignation.
	lead := func(e *core.Election, name string, terms chan<- uint64, stopped chan<- error) {
		for {
			if err := e.Campaign(ctx, name); err != nil {
				return // ctx ended
			}
			terms <- e.Fence()
			for e.Err() == nil && ctx.Err() == nil {
				select {
				case <-e.Done(): // resigned or lost: stop working at once
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond): // one unit of work, fenced with e.Fence()
				}
			}
			if ctx.Err() != nil {
				_ = e.Resign(context.Background())
				return
			}
			if !errors.Is(e.Err(), core.ErrLockLost) {
				stopped <- e.Err() // resigned
				return
			}
		}
	}
	a, b := locker.NewElection("scheduler"), locker.NewElection("scheduler")
	terms, stopped := make(chan uint64), make(chan error)
	go lead(a, "host-a", terms, stopped)
	first := <-terms
	leaders := locker.NewElection("scheduler").ObserveTerms(ctx) // what everyone else sees
	seen := <-leaders
	fmt.Println("leader:", seen.Value, "in its term:", seen.Fence == first)

	go lead(b, "host-b", terms, stopped)
	if err := a.Resign(ctx); err != nil { // host-a steps down, say for a deploy
		panic(err)
	}
	fmt.Println("host-a stopped working:", <-stopped)
	second := <-terms
	seen = <-leaders
	fmt.Println("leader:", seen.Value, "in its term:", seen.Fence == second)
	fmt.Println("term increased:", second > first)
	value, _ := b.Leader(ctx)
	fmt.Println("Leader says:", value)
	// Output:
	// leader: host-a in its term: true
	// host-a stopped working: redlock: not held
	// leader: host-b in its term: true
	// term increased: true
	// Leader says: host-b
}

// An operator breaks a lock whose holder hangs. The holder, kept alive,
// is told at its next extension; until then only its fencing token keeps
// it from overwriting the next holder's work.
func ExampleNewNode_break() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		nodes = append(nodes, goredis.NewNode(client))
	}
	locker, err := core.New(nodes, core.WithTTL(time.Second), core.WithFencing())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	var db store

	hung := locker.NewMutex("invoices", core.WithKeepAlive(true), core.WithMetadata("batch-2"))
	if err := hung.Lock(ctx); err != nil {
		panic(err)
	}
	token := hung.Fence() // what the hung holder writes with
	_ = locker.Wait(ctx)

	// The operator: look, then break the lock of the owner seen, and only
	// that one (nothing is broken if the lock changed hands meanwhile).
	info, _ := locker.Inspect(ctx, "invoices")
	fmt.Println("held by:", info.Metadata)
	n, err := locker.Break(ctx, "invoices", info.Owner)
	fmt.Println("keys deleted:", n, err)

	<-hung.Done()
	fmt.Println("the holder is told:", errors.Is(hung.Err(), core.ErrLockLost))

	next := locker.NewMutex("invoices")
	if err := next.Lock(ctx); err != nil {
		panic(err)
	}
	fmt.Println("next writes:", db.Write(next.Fence(), "from next"))
	fmt.Println("the broken holder writes late:", db.Write(token, "from hung"))
	_ = next.Unlock(ctx)
	_ = locker.Wait(ctx)
	// Output:
	// held by: batch-2
	// keys deleted: 3 <nil>
	// the holder is told: true
	// next writes: <nil>
	// the broken holder writes late: store: stale fencing token
}
