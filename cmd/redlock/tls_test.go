package main

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/conformance"
)

// run and status reach a server that speaks TLS only and verifies
// clients, with the CA and the client certificate from $REDLOCK_TLS_*;
// without them the server's certificate does not verify, and the error
// says so.
func TestTLS(t *testing.T) {
	t.Parallel()
	pki, err := conformance.WritePKI(t.TempDir())
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conformance.Servers(t, 1, "--tls-port", strconv.Itoa(port), "--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey,
		"--tls-ca-cert-file", pki.CA, "--tls-auth-clients", "yes")
	nodes := "rediss://localhost:" + strconv.Itoa(port)
	env := []string{"REDLOCK_TLS_CA=" + pki.CA, "REDLOCK_TLS_CERT=" + pki.ClientCert, "REDLOCK_TLS_KEY=" + pki.ClientKey}

	p := startEnv(t, env, "run", "--nodes", nodes, "--no-wait", "tls-job", "--", "true")
	assert.Equal(t, 0, p.wait(t, 30*time.Second), p.stderr.String())

	p = startEnv(t, env, "status", "--nodes", nodes, "tls-job")
	assert.Equal(t, 1, p.wait(t, 30*time.Second), p.stdout.String()+p.stderr.String()) // free
	assert.Contains(t, p.stdout.String(), "held on 0 of 1 nodes")

	code, stdout, stderr := redlock(t, "run", "--nodes", nodes, "--no-wait", "tls-job", "--", "true")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stdout+stderr, "certificate signed by unknown authority", "the system's authorities do not know the test's CA")
}
