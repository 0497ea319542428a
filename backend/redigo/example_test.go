package redigo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/redlock-go/redlock/backend/redigo"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// redisAddrs are the Redis masters of the example. TestMain replaces them
// with servers it starts.
var redisAddrs = []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"}

func TestMain(m *testing.M) { os.Exit(conformance.RunWithServers(m, redisAddrs)) }

func Example() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		pool := &redis.Pool{
			MaxIdle:     16,
			IdleTimeout: 4 * time.Minute,
			DialContext: func(ctx context.Context) (redis.Conn, error) {
				return redis.DialContext(ctx, "tcp", addr, redis.DialConnectTimeout(time.Second))
			},
		}
		defer pool.Close()
		nodes = append(nodes, redigo.NewNodeAddr(pool, addr))
	}
	locker, err := core.New(nodes)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	m := locker.NewMutex("nightly-report")
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("locked")
	// ... the work the lock protects ...
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("unlocked")
	// Output:
	// locked
	// unlocked
}
