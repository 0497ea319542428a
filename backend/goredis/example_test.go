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
