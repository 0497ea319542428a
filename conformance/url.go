package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redlock-go/redlock/core"
	"github.com/redlock-go/redlock/nodeurl"
)

// urlCases prove that an adapter's NewNodeFromURL reads every form of
// package nodeurl, that the Node it builds works with each, and that no
// error shows a password.
var urlCases = []testCase{
	{"URLNodeConnectsLazily", 3, testURLLazy, true},
	{"URLForms", 1, testURLForms, true},
	{"URLDatabaseAndPassword", 1, testURLAuth, true},
	{"URLACLUser", 1, testURLACLUser, true},
	{"URLUnixSocket", 0, testURLUnix, true},
	{"URLTLSVerifiesServer", 0, testURLTLS, true},
	{"URLTLSWithCA", 0, testURLTLSWithCA, true},
	{"URLRejectsBadInput", 0, testURLBad, true},
}

// urlPassword is the password the URL cases set; it contains characters
// that a URL must percent-encode. Errors must never show it.
const urlPassword = "s3cret:p@ss/w0rd"

// urlUserinfo returns user and urlPassword as a URL writes them.
func urlUserinfo(user string) string { return url.UserPassword(user, urlPassword).String() }

// requirePassword sets urlPassword as the default user's password on s.
// The admin connection stays authenticated.
func (f *Fixture) requirePassword(s *Server) {
	f.T.Helper()
	_, err := s.Do("CONFIG", "SET", "requirepass", urlPassword)
	require.NoError(f.T, err)
}

// fromURLOK builds a Node from rawURL and checks its Addr.
func (f *Fixture) fromURLOK(rawURL, addr string) core.Node {
	f.T.Helper()
	n, err := f.fromURL(rawURL)
	require.NoError(f.T, err, "URL %q", rawURL)
	assert.Equal(f.T, addr, n.Addr(), "Addr of a Node for %q", rawURL)
	return n
}

// lockIn takes and releases a lock through n alone, checking on s that the
// lock lives in database db meanwhile.
func (f *Fixture) lockIn(n core.Node, s *Server, db int, name string) {
	f.T.Helper()
	l, err := core.New([]core.Node{n})
	require.NoError(f.T, err)
	m := l.NewMutex(name)
	require.NoError(f.T, m.TryLock(f.Ctx), "lock through %s", n.Addr())
	_, err = s.Do("SELECT", strconv.Itoa(db))
	require.NoError(f.T, err)
	v, err := s.Do("EXISTS", core.Key(name))
	s.Do("SELECT", "0")
	require.NoError(f.T, err)
	assert.Equal(f.T, int64(1), v, "lock %q in database %d", name, db)
	require.NoError(f.T, m.Unlock(f.Ctx))
}

// refused checks that a lock round through n alone fails with a NodeError
// naming n, and that neither that error nor the round's shows a password.
// It returns the round's error.
func (f *Fixture) refused(n core.Node) error {
	f.T.Helper()
	l, err := core.New([]core.Node{n})
	require.NoError(f.T, err)
	err = l.NewMutex("refused").TryLock(f.Ctx)
	require.ErrorIs(f.T, err, core.ErrNotAcquired)
	var ne *core.NodeError
	require.ErrorAs(f.T, err, &ne)
	assert.Equal(f.T, n.Addr(), ne.Addr)
	f.noPassword(err)
	f.noPassword(ne)
	return err
}

// noPassword checks that err's text shows no part of urlPassword.
func (f *Fixture) noPassword(err error) {
	f.T.Helper()
	for _, part := range []string{urlPassword, "s3cret", "w0rd", url.QueryEscape(urlPassword), url.PathEscape(urlPassword)} {
		assert.NotContains(f.T, err.Error(), part, "an error shows the password")
	}
}

func testURLLazy(f *Fixture) {
	f.Servers[0].Kill()
	nodes := make([]core.Node, len(f.Servers))
	for i, s := range f.Servers {
		n, err := f.fromURL("redis://" + s.Addr + "/0")
		require.NoError(f.T, err, "a Node is built while its server is down")
		nodes[i] = n
	}
	l, err := core.New(nodes)
	require.NoError(f.T, err)
	m := l.NewMutex("lazy")
	require.NoError(f.T, m.TryLock(f.Ctx), "two of three nodes are up")
	require.NoError(f.T, m.Unlock(f.Ctx))

	// The dead node comes back; its Node reconnects and counts again.
	require.NoError(f.T, f.Servers[0].Restart())
	f.Servers[1].Kill()
	// Clients may wait a moment before they dial a failed address again.
	require.NoError(f.T, m.Lock(f.Ctx), "the restarted node is used again")
	assert.Eventually(f.T, func() bool { return slices.Contains(f.Holders("lazy"), 0) }, 5*time.Second, 2*time.Millisecond)
	require.NoError(f.T, m.Unlock(f.Ctx))
}

// testURLForms builds a Node from each tcp form without credentials and
// locks through it.
func testURLForms(f *Fixture) {
	s := f.Servers[0]
	_, port, err := net.SplitHostPort(s.Addr)
	require.NoError(f.T, err)
	type form struct {
		raw, addr string
		db        int
	}
	forms := []form{
		{"redis://" + s.Addr, s.Addr, 0},
		{"redis://" + s.Addr + "/", s.Addr, 0},
		{"redis://" + s.Addr + "/5", s.Addr, 5},
		{s.Addr, s.Addr, 0},
		{"redis://localhost:" + port + "/1", "localhost:" + port, 1},
	}
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		_, err := s.Do("CONFIG", "SET", "bind", "127.0.0.1 ::1")
		require.NoError(f.T, err)
		v6 := net.JoinHostPort("::1", port)
		forms = append(forms, form{"redis://" + v6 + "/2", v6, 2}, form{v6, v6, 0})
	} else {
		f.T.Logf("no IPv6 loopback (%v): IPv6 forms not tried", err)
	}
	for i, form := range forms {
		f.lockIn(f.fromURLOK(form.raw, form.addr), s, form.db, "form"+strconv.Itoa(i))
	}

	// Nodes that are never dialled: nodeurl.Default, and TLS (see testURLTLS).
	f.fromURLOK("", "127.0.0.1:6379")
	f.fromURLOK("rediss://localhost:"+port+"/0", "localhost:"+port)
}

// testURLAuth logs in with a password alone, percent-encoded in the URL,
// and uses the URL's database; a wrong or missing password, or a server
// that is down, is a node error that shows no password.
func testURLAuth(f *Fixture) {
	s := f.Servers[0]
	f.requirePassword(s)

	good := f.fromURLOK("redis://"+urlUserinfo("")+"@"+s.Addr+"/3", s.Addr)
	f.lockIn(good, s, 3, "db3")

	wrong := f.fromURLOK("redis://"+url.UserPassword("", urlPassword+"x").String()+"@"+s.Addr+"/0", s.Addr)
	f.refused(wrong)
	f.refused(f.fromURLOK("redis://"+s.Addr+"/0", s.Addr))

	s.Kill()
	f.refused(f.fromURLOK("redis://"+urlUserinfo("")+"@"+s.Addr+"/0", s.Addr))
}

// testURLACLUser logs in as an ACL user; the user's password for the
// default user is refused.
func testURLACLUser(f *Fixture) {
	s := f.Servers[0]
	_, err := s.Do("ACL", "SETUSER", "locker", "on", ">"+urlPassword, "~*", "&*", "+@all")
	require.NoError(f.T, err)
	_, err = s.Do("CONFIG", "SET", "requirepass", "another-one")
	require.NoError(f.T, err)

	f.lockIn(f.fromURLOK("redis://"+urlUserinfo("locker")+"@"+s.Addr+"/4", s.Addr), s, 4, "acl")
	f.refused(f.fromURLOK("redis://"+urlUserinfo("")+"@"+s.Addr, s.Addr))
	f.refused(f.fromURLOK("redis://"+urlUserinfo("nobody")+"@"+s.Addr, s.Addr))
}

// testURLUnix connects through a unix socket, with and without a password
// and a database.
func testURLUnix(f *Fixture) {
	dir, err := os.MkdirTemp("", "rl")
	require.NoError(f.T, err)
	f.T.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	if len(path) > 100 {
		f.T.Skipf("socket path %s is too long for a unix socket: set TMPDIR to a shorter directory", path)
	}
	s := Servers(f.T, 1, "--unixsocket", path, "--unixsocketperm", "700")[0]

	f.lockIn(f.fromURLOK("unix://"+path, path), s, 0, "unix")
	f.lockIn(f.fromURLOK("unix://"+path+"?db=2", path), s, 2, "unix2")
	f.requirePassword(s)
	f.lockIn(f.fromURLOK("unix://"+urlUserinfo("")+"@"+path+"?db=7", path), s, 7, "unix7")
	f.refused(f.fromURLOK("unix://"+path, path))
}

// testURLTLS connects with rediss:// to a server whose certificate no
// trusted authority signed: the client must refuse it.
func testURLTLS(f *Fixture) {
	dir := f.T.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(f.T, writeSelfSigned(certFile, keyFile))
	port, err := freePort()
	require.NoError(f.T, err)
	s := Servers(f.T, 1, "--tls-port", strconv.Itoa(port), "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no")[0]
	f.requirePassword(s)
	addr := "localhost:" + strconv.Itoa(port)

	err = f.refused(f.fromURLOK("rediss://"+urlUserinfo("")+"@"+addr+"/0", addr))
	var verify *tls.CertificateVerificationError
	assert.ErrorAs(f.T, err, &verify, "rediss:// verifies the server's certificate")
}

// testURLTLSWithCA connects with rediss:// to a server whose certificate
// the test's own CA signed, and that verifies clients: with the CA and the
// client's certificate (tls_ca=, tls_cert=, tls_key=) the lock works; with
// no client certificate the server refuses; another CA, or another server
// name (tls_server_name=), fails the verification of the server. Errors
// name the node and show no password.
func testURLTLSWithCA(f *Fixture) {
	dir := f.T.TempDir()
	pki, err := WritePKI(dir)
	require.NoError(f.T, err)
	other, err := WritePKI(f.T.TempDir())
	require.NoError(f.T, err)
	port, err := freePort()
	require.NoError(f.T, err)
	s := Servers(f.T, 1, "--tls-port", strconv.Itoa(port), "--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey,
		"--tls-ca-cert-file", pki.CA, "--tls-auth-clients", "yes")[0]
	f.requirePassword(s)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		addr := host + ":" + strconv.Itoa(port)
		base := "rediss://" + urlUserinfo("") + "@" + addr + "/2?tls_ca=" + url.QueryEscape(pki.CA)
		withCert := base + "&tls_cert=" + url.QueryEscape(pki.ClientCert) + "&tls_key=" + url.QueryEscape(pki.ClientKey)
		f.lockIn(f.fromURLOK(withCert, addr), s, 2, "tls-"+host)

		f.refused(f.fromURLOK(base, addr)) // no client certificate

		var verify *tls.CertificateVerificationError
		wrongCA := "rediss://" + urlUserinfo("") + "@" + addr + "/2?tls_ca=" + url.QueryEscape(other.CA) +
			"&tls_cert=" + url.QueryEscape(pki.ClientCert) + "&tls_key=" + url.QueryEscape(pki.ClientKey)
		assert.ErrorAs(f.T, f.refused(f.fromURLOK(wrongCA, addr)), &verify, "a server that another CA signed")

		wrongName := withCert + "&tls_server_name=elsewhere.example"
		err := f.refused(f.fromURLOK(wrongName, addr))
		assert.ErrorAs(f.T, err, &verify, "a certificate for another name")
		assert.Contains(f.T, err.Error(), "elsewhere.example")
	}
}

// writeSelfSigned writes a self-signed certificate for localhost and its
// key as PEM files.
func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// testURLBad: every adapter refuses the same URLs, with a *nodeurl.Error
// that shows no password.
func testURLBad(f *Fixture) {
	const pw = "s3cret" // urlPassword's first part, as these URLs carry it
	for _, raw := range []string{
		"http://127.0.0.1:6379",
		"valkey://127.0.0.1:6379",
		"::not a url",
		"redis://",
		"redis://:6379/0",
		"redis://127.0.0.1:notaport",
		"redis://127.0.0.1:0",
		"redis://::1:6379",
		"redis://127.0.0.1:6379/notadb",
		"redis://127.0.0.1:6379/-1",
		"redis://127.0.0.1:6379/0/1",
		"redis://127.0.0.1:6379/0?foo=bar",
		"redis://127.0.0.1:6379/0?db=1",
		"redis://127.0.0.1:6379/0#x",
		"redis://user@127.0.0.1:6379/0",
		"rediss://127.0.0.1:6379?skip_verify=true",
		"unix://",
		"unix://host/tmp/redis.sock",
		"unix:///tmp/redis.sock?db=x",
		"unix:///tmp/redis.sock?db=1&foo=bar",
		"unix:///tmp/redis.sock?dial_timeout=1s",
		"localhost",
		"localhost:6379/0",
		"redis://:" + pw + "@host:notaport",
		"redis://:" + pw + "@:6379",
		"redis://u:" + pw + "@host/x",
		"redis://:" + pw + "@host:6379/0?foo=bar",
		"redis://:" + pw + "/x@host:6379",
		"redis://:" + pw + "?#@host:6379",
		"redis://:" + pw + "%zz@host:6379",
		"redis://" + pw + "@host:6379",
		"http://:" + pw + "@host:6379",
		"unix://:" + pw + "@host/tmp/redis.sock",
		"unix://:" + pw + "@/tmp/redis.sock?db=x",
		":" + pw + "@host:6379",
	} {
		n, err := f.fromURL(raw)
		if !assert.Error(f.T, err, "URL %q", raw) {
			continue
		}
		assert.Nil(f.T, n, "a Node with the error for %q", raw)
		var ue *nodeurl.Error
		assert.True(f.T, errors.As(err, &ue), "URL %q: %T %v, want a *nodeurl.Error", raw, err, err)
		assert.True(f.T, strings.HasPrefix(err.Error(), "redlock: node URL "), "error %q", err)
		f.noPassword(err)
	}
}
