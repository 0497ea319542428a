package rueidis_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/redis/rueidis"

	redlockrueidis "github.com/redlock-go/redlock/backend/rueidis"
	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/core"
)

// redisAddrs are the independent Redis masters of the example. TestMain
// replaces them with servers it starts.
var redisAddrs = []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"}

func Example() {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			log.Fatal(err)
		}
		defer client.Close()
		nodes = append(nodes, redlockrueidis.NewNode(client))
	}
	locker, err := core.New(nodes)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	m := locker.NewMutex("invoice-42")
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("locked on", len(nodes), "nodes")
	// The work the lock protects goes here, finished before m.Until().
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("unlocked")
	// Output:
	// locked on 3 nodes
	// unlocked
}

func TestMain(m *testing.M) { os.Exit(conformance.RunWithServers(m, redisAddrs)) }
