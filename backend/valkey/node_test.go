package valkeynode

import (
	"io"

	"github.com/redlock-go/redlock/core"
)

// Every Node of the package has core's optional abilities, and a Node of
// NewNodeFromURL can be closed.
var (
	_ core.Node       = (*node)(nil)
	_ core.Batcher    = (*node)(nil)
	_ core.Subscriber = (*node)(nil)
	_ io.Closer       = (*urlNode)(nil)
)
