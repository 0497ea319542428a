package redlockotel_test

import (
	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/internal/testnode"
)

// redisAddrs are three independent Redis masters for the examples.
var redisAddrs = []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"}

// exampleNodes returns a Node for each of redisAddrs: the test Node of
// this repository, which needs no Redis client; a program uses an
// adapter's.
func exampleNodes() []core.Node {
	var nodes []core.Node
	for _, addr := range redisAddrs {
		nodes = append(nodes, testnode.New(addr))
	}
	return nodes
}
