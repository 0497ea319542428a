package valkeynode_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	valkeynode "github.com/redlock-go/redlock/backend/valkey"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// serverAddrs are the addresses of the servers the examples use; TestMain
// starts a redis-server for each.
var serverAddrs = []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"}

func TestMain(m *testing.M) { os.Exit(conformance.RunWithServers(m, serverAddrs)) }

// A Locker over three independent servers, one valkey-go client each.
func Example() {
	var nodes []core.Node
	for _, addr := range serverAddrs {
		client, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, AlwaysPipelining: true})
		if err != nil {
			panic(err)
		}
		defer client.Close()
		nodes = append(nodes, valkeynode.NewNode(client))
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
	// Output:
	// locked, valid for under 10s: true
	// second handle: true
}

// A Node from a URL does not touch the network until it is used; close it
// when done. A URL that package nodeurl refuses is an error that never
// shows the password.
func ExampleNewNodeFromURL() {
	node, err := valkeynode.NewNodeFromURL("redis://:secret@db1.example:6379/2")
	if err != nil {
		panic(err)
	}
	defer node.(io.Closer).Close()
	fmt.Println(node.Addr())

	_, err = valkeynode.NewNodeFromURL("redis://:secret@db1.example:6379/two")
	fmt.Println(err)
	// Output:
	// db1.example:6379
	// redlock: node URL "redis://:xxxxx@db1.example:6379/two": database "two": want a non-negative integer
}
