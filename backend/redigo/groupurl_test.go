package redigo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/backend/redigo"
	"github.com/redlock-go/redlock/nodeurl"
)

// redigo has no cluster or sentinel client: NewNodeFromURL refuses the
// URLs of a cluster or a Sentinel group, saying so, with no password.
func TestGroupURLsRefused(t *testing.T) {
	for raw, reason := range map[string]string{
		"redis://:s3cret@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002": "redigo has no cluster client",
		"rediss://u:s3cret@127.0.0.1:26379/2?master_name=mymaster":               "redigo has no sentinel client",
		"redis://:s3cret@127.0.0.1:26379?addr=127.0.0.1:26380&master_set=m":      "redigo has no sentinel client",
		"redis://:s3cret@127.0.0.1:7000/1?addr=127.0.0.1:7001":                   "a cluster has only database 0",
	} {
		n, err := redigo.NewNodeFromURL(raw)
		assert.Nil(t, n, raw)
		var ue *nodeurl.Error
		require.True(t, errors.As(err, &ue), "%s: %T %v, want a *nodeurl.Error", raw, err, err)
		assert.Contains(t, ue.Reason, reason, raw)
		assert.True(t, strings.HasPrefix(err.Error(), "redlock: node URL "), err.Error())
		assert.NotContains(t, err.Error(), "s3cret", raw)
	}
}
