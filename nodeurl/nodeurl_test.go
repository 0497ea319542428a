package nodeurl_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/redlock-go/redlock/conformance"
	"github.com/redlock-go/redlock/nodeurl"
)

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		want     nodeurl.Config
		redacted string
	}{
		{"", nodeurl.Config{Network: "tcp", Addr: "127.0.0.1:6379", ServerName: "127.0.0.1"}, "redis://127.0.0.1:6379/0"},
		{"redis://h", nodeurl.Config{Network: "tcp", Addr: "h:6379", ServerName: "h"}, "redis://h:6379/0"},
		{"redis://h/", nodeurl.Config{Network: "tcp", Addr: "h:6379", ServerName: "h"}, "redis://h:6379/0"},
		{"REDIS://h:7000/12", nodeurl.Config{Network: "tcp", Addr: "h:7000", DB: 12, ServerName: "h"}, "redis://h:7000/12"},
		{"redis://:pw@h:1/3", nodeurl.Config{Network: "tcp", Addr: "h:1", Password: "pw", DB: 3, ServerName: "h"}, "redis://:xxxxx@h:1/3"},
		{"redis://u:pw@h", nodeurl.Config{Network: "tcp", Addr: "h:6379", Username: "u", Password: "pw", ServerName: "h"}, "redis://u:xxxxx@h:6379/0"},
		{"redis://u%40x:p%2F%3F%23%40w@h", nodeurl.Config{Network: "tcp", Addr: "h:6379", Username: "u@x", Password: "p/?#@w", ServerName: "h"}, "redis://u%40x:xxxxx@h:6379/0"},
		{"redis://:p@ss@h", nodeurl.Config{Network: "tcp", Addr: "h:6379", Password: "p@ss", ServerName: "h"}, "redis://:xxxxx@h:6379/0"},
		{"redis://[::1]", nodeurl.Config{Network: "tcp", Addr: "[::1]:6379", ServerName: "::1"}, "redis://[::1]:6379/0"},
		{"redis://[::1]:6380/2", nodeurl.Config{Network: "tcp", Addr: "[::1]:6380", DB: 2, ServerName: "::1"}, "redis://[::1]:6380/2"},
		{"rediss://u:pw@redis.example.com:6380/1", nodeurl.Config{Network: "tcp", Addr: "redis.example.com:6380", Username: "u", Password: "pw", DB: 1, TLS: true, ServerName: "redis.example.com"}, "rediss://u:xxxxx@redis.example.com:6380/1"},
		{"unix:///tmp/redis.sock", nodeurl.Config{Network: "unix", Addr: "/tmp/redis.sock"}, "unix:///tmp/redis.sock?db=0"},
		{"unix:///tmp/a%20b@c.sock?db=4", nodeurl.Config{Network: "unix", Addr: "/tmp/a b@c.sock", DB: 4}, "unix:///tmp/a%20b@c.sock?db=4"},
		{"unix://:pw@/run/redis.sock", nodeurl.Config{Network: "unix", Addr: "/run/redis.sock", Password: "pw"}, "unix://:xxxxx@/run/redis.sock?db=0"},
		{"unix://u:pw@/run/redis.sock?db=1", nodeurl.Config{Network: "unix", Addr: "/run/redis.sock", Username: "u", Password: "pw", DB: 1}, "unix://u:xxxxx@/run/redis.sock?db=1"},
		{"localhost:6379", nodeurl.Config{Network: "tcp", Addr: "localhost:6379", ServerName: "localhost"}, "redis://localhost:6379/0"},
		{"10.0.0.1:7000", nodeurl.Config{Network: "tcp", Addr: "10.0.0.1:7000", ServerName: "10.0.0.1"}, "redis://10.0.0.1:7000/0"},
		{"[::1]:7000", nodeurl.Config{Network: "tcp", Addr: "[::1]:7000", ServerName: "::1"}, "redis://[::1]:7000/0"},

		// A Redis Cluster: the host and addr= are its seed nodes.
		{"redis://h1:7000?addr=h2:7001&addr=h3:7002", nodeurl.Config{Network: "tcp", Addr: "h1:7000", Addrs: []string{"h1:7000", "h2:7001", "h3:7002"}}, "redis://h1:7000/0?addr=h2:7001&addr=h3:7002"},
		{"redis://u:pw@h1:7000/0?addr=h2:7001", nodeurl.Config{Network: "tcp", Addr: "h1:7000", Addrs: []string{"h1:7000", "h2:7001"}, Username: "u", Password: "pw"}, "redis://u:xxxxx@h1:7000/0?addr=h2:7001"},
		{"rediss://:pw@h1:7000/?addr=[::1]:7001&addr=10.0.0.3%3A7002", nodeurl.Config{Network: "tcp", Addr: "h1:7000", Addrs: []string{"h1:7000", "[::1]:7001", "10.0.0.3:7002"}, Password: "pw", TLS: true}, "rediss://:xxxxx@h1:7000/0?addr=[::1]:7001&addr=10.0.0.3:7002"},
		{"redis://[::1]:7000?addr=[0:0::1]:7001", nodeurl.Config{Network: "tcp", Addr: "[::1]:7000", Addrs: []string{"[::1]:7000", "[::1]:7001"}}, "redis://[::1]:7000/0?addr=[::1]:7001"},

		// A Sentinel group: the host and addr= are its sentinels.
		{"redis://s1:26379?master_name=mymaster", nodeurl.Config{Network: "tcp", Addr: "s1:26379", MasterName: "mymaster"}, "redis://s1:26379/0?master_name=mymaster"},
		{"redis://:pw@s1:26379/2?addr=s2:26380&master_name=mymaster&addr=s3:26381", nodeurl.Config{Network: "tcp", Addr: "s1:26379", Addrs: []string{"s1:26379", "s2:26380", "s3:26381"}, MasterName: "mymaster", Password: "pw", DB: 2}, "redis://:xxxxx@s1:26379/2?addr=s2:26380&addr=s3:26381&master_name=mymaster"},
		{"rediss://u:pw@s1:26379?master_set=my%2Fmaster%26x", nodeurl.Config{Network: "tcp", Addr: "s1:26379", MasterName: "my/master&x", Username: "u", Password: "pw", TLS: true}, "rediss://u:xxxxx@s1:26379/0?master_name=my%2Fmaster%26x"},
	} {
		if tc.want.Addrs == nil {
			tc.want.Addrs = []string{tc.want.Addr}
		}
		c, err := nodeurl.Parse(tc.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if !reflect.DeepEqual(*c, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.raw, *c, tc.want)
		}
		if got := c.Redacted(); got != tc.redacted {
			t.Errorf("Parse(%q).Redacted() = %q, want %q", tc.raw, got, tc.redacted)
		}
		if (c.TLSConfig() != nil) != c.TLS || c.TLS && c.TLSConfig().ServerName != c.ServerName {
			t.Errorf("Parse(%q).TLSConfig() = %+v", tc.raw, c.TLSConfig())
		}
		back, err := nodeurl.Parse(c.Redacted())
		if err != nil {
			t.Errorf("Parse(%q).Redacted() = %q, which does not parse: %v", tc.raw, c.Redacted(), err)
			continue
		}
		back.Password = c.Password
		if !reflect.DeepEqual(*back, *c) {
			t.Errorf("Parse(%q).Redacted() = %q, which parses to %+v", tc.raw, c.Redacted(), *back)
		}
	}
}

// What each kind of URL names, as the adapters read it.
func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		cluster  bool
		nodeAddr string
	}{
		{"redis://h:7000/1", false, "h:7000"},
		{"unix:///tmp/redis.sock", false, "/tmp/redis.sock"},
		{"h:7000", false, "h:7000"},
		{"redis://h1:7000?addr=h2:7001&addr=h3:7002", true, "h1:7000,h2:7001,h3:7002"},
		{"redis://s1:26379?master_name=mymaster", false, "mymaster(s1:26379)"},
		{"redis://s1:26379?addr=s2:26380&master_set=mymaster", false, "mymaster(s1:26379,s2:26380)"},
	} {
		c, err := nodeurl.Parse(tc.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if c.Cluster() != tc.cluster {
			t.Errorf("Parse(%q).Cluster() = %v, want %v", tc.raw, c.Cluster(), tc.cluster)
		}
		if got := c.NodeAddr(); got != tc.nodeAddr {
			t.Errorf("Parse(%q).NodeAddr() = %q, want %q", tc.raw, got, tc.nodeAddr)
		}
	}
	// A Config built by hand, without Addrs, is one server or a group
	// with one sentinel.
	c := nodeurl.Config{Network: "tcp", Addr: "s1:26379", MasterName: "m"}
	if c.Cluster() || c.NodeAddr() != "m(s1:26379)" || c.Redacted() != "redis://s1:26379/0?master_name=m" {
		t.Errorf("%+v: Cluster() %v, NodeAddr() %q, Redacted() %q", c, c.Cluster(), c.NodeAddr(), c.Redacted())
	}
	// The TLS settings of a cluster or a group verify each server dialled.
	for _, raw := range []string{"rediss://h1:7000?addr=h2:7001", "rediss://s1:26379?master_name=m"} {
		c, err := nodeurl.Parse(raw)
		if err != nil || c.TLSConfig() == nil || c.TLSConfig().ServerName != "" || c.TLSConfig().InsecureSkipVerify {
			t.Errorf("Parse(%q): TLSConfig() %+v, %v: want verification of each host dialled", raw, c.TLSConfig(), err)
		}
	}
}

func TestNewError(t *testing.T) {
	err := nodeurl.NewError("redis://u:s3cr/t@h1:1?addr=h2:2", "no cluster client")
	if want := `redlock: node URL "redis://u:xxxxx@h1:1?addr=h2:2": no cluster client`; err.Error() != want {
		t.Errorf("NewError: %q, want %q", err, want)
	}
}

// rejected lists URLs that Parse refuses, each with a part of the reason.
var rejected = []struct{ raw, reason string }{
	{"http://h:6379", `scheme "http"`},
	{"valkey://h:6379", `scheme "valkey"`},
	{"1http://h", "not a URL"},
	{"redis:/h:6379", "not a URL"},
	{"redis://", "empty host"},
	{"redis:///0", "empty host"},
	{"redis://:6379", "empty host"},
	{"redis://:pw@:6379/0", "empty host"},
	{"redis://h:notaport", `port "notaport"`},
	{"redis://h:", `port ""`},
	{"redis://h:0", `port "0"`},
	{"redis://h:65536", `port "65536"`},
	{"redis://h:+80", `port "+80"`},
	{"redis://h b:6379", "space"},
	{"redis://h\x00:6379", "control character"},
	{"redis://h%41:6379", `host "h%41"`},
	{"redis://::1:6379", "in brackets"},
	{"redis://[::1:6379", "closing ]"},
	{"redis://[1.2.3.4]:6379", "not an IPv6 address"},
	{"redis://[::1]x", "after the ]"},
	{"redis://h/notadb", `database "notadb"`},
	{"redis://h/-1", `database "-1"`},
	{"redis://h/+1", `database "+1"`},
	{"redis://h/99999999999999999999", "database"},
	{"redis://h/0/1", `path "/0/1"`},
	{"redis://h:6379/0?foo=bar", `query parameter "foo"`},
	{"redis://h:6379/?db=1", "give the database in the path"},
	{"redis://h:6379?", "empty query"},
	{"redis://h:6379?&addr=h2:1", `query parameter ""`},
	{"redis://h:6379?addr=h2:1&", `query parameter ""`},
	{"redis://h:6379?ADDR=h2:1", `query parameter "ADDR"`},
	{"redis://h:6379?addr=h2:1&dial_timeout=3", `query parameter "dial_timeout"`},
	{"rediss://h:6379?skip_verify=true", `query parameter "skip_verify"`},
	{"redis://h:6379?addr=h2:1#x", "fragment"},

	// Clusters.
	{"redis://h1:7000?addr=h2", "every address has its port"},
	{"redis://h1:7000?addr=h2:", `port ""`},
	{"redis://h1:7000?addr=h2:0", `port "0"`},
	{"redis://h1:7000?addr=", "no address"},
	{"redis://h1:7000?addr", "no address"},
	{"redis://h1:7000?addr=:7001", "empty host"},
	{"redis://h1:7000?addr=::1:7001", "in brackets"},
	{"redis://h1:7000?addr=h%20x:7001", `host "h x"`},
	{"redis://h1:7000?addr=h2:7001/0", `port "7001/0"`},
	{"redis://h1:7000?addr=h2:7001%zz", "bad percent-encoding"},
	{"redis://h1:7000?addr=u%3Apw%40h2:7001", "the user name and password go before the first host"},
	{"redis://h1:7000?addr=redis://h2:7001", "addr="},
	{"redis://h1?addr=h2:7001", "the host has no port"},
	{"redis://h1:7000?addr=h1:7000", "address h1:7000 given twice"},
	{"redis://h1:7000?addr=h2:7001&addr=h2:7001", "address h2:7001 given twice"},
	{"redis://h1:7000/1?addr=h2:7001", "a cluster has only database 0"},
	{"redis://h1:7000?addr=h2:7001&db=1", "give the database in the path"},

	// Sentinel groups.
	{"redis://s1:26379?master_name=", "empty master_name="},
	{"redis://s1:26379?master_set=", "empty master_set="},
	{"redis://s1:26379?master_name", "empty master_name="},
	{"redis://s1:26379?master_name=a&master_name=b", "master_name= given twice"},
	{"redis://s1:26379?master_name=a&master_set=a", "the same parameter"},
	{"redis://s1:26379?master_name=a+b", "a space or control character in the master name"},
	{"redis://s1:26379?master_name=a%00b", "a space or control character in the master name"},
	{"redis://s1:26379?master_name=a%zz", "bad percent-encoding"},
	{"redis://s1?master_name=m", "the host has no port"},
	{"redis://s1:26379?master_name=m&addr=s2", "every address has its port"},
	{"redis://s1:26379?master_name=m&addr=s1:26379", "given twice"},
	{"unix:///tmp/s.sock?addr=h2:7001", "addr= in a unix:// URL"},
	{"unix:///tmp/s.sock?db=1&master_name=m", "master_name= in a unix:// URL"},
	{"unix:///tmp/s.sock?master_set=m", "master_set= in a unix:// URL"},
	{"h1:7000?addr=h2:7001", "not a URL"},
	{"redis://h:6379/0#x", "fragment"},
	{"redis://user@h:6379", "ambiguous"},
	{"redis://@h:6379", "ambiguous"},
	{"redis://u:@h:6379", "ambiguous"},
	{"rediss://u@h", "rediss://:password@host"},
	{"redis://:a%zzb@h", "percent-encoding"},
	{"unix://", "no socket path"},
	{"unix://host/tmp/s.sock", "has no host"},
	{"unix://tmp/s.sock", "has no host"},
	{"unix:///tmp/s.sock?db=x", `database "x"`},
	{"unix:///tmp/s.sock?db=1&db=2", "one parameter"},
	{"unix:///tmp/s.sock?foo=bar", "one parameter"},
	{"unix:///tmp/s.sock?", "one parameter"},
	{"unix:///tmp/s.sock#x", "fragment"},
	{"unix:///tmp/a%zz", "socket path"},
	{"unix://user@/tmp/s.sock", "unix://:password@/path/to/socket"},
	{"localhost", "needs its port"},
	{"localhost:", `port ""`},
	{"localhost:6379/0", "not a URL"},
	{"::1", "in brackets"},
	{"user:pw@localhost:6379", "not a URL"},
}

func TestParseRejects(t *testing.T) {
	for _, tc := range rejected {
		c, err := nodeurl.Parse(tc.raw)
		var ue *nodeurl.Error
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %+v, %v: want a *nodeurl.Error", tc.raw, c, err)
			continue
		}
		if c != nil {
			t.Errorf("Parse(%q) returned a Config with its error", tc.raw)
		}
		if !strings.HasPrefix(err.Error(), "redlock: node URL ") || !strings.Contains(ue.Reason, tc.reason) {
			t.Errorf("Parse(%q): %q, want a reason with %q", tc.raw, err, tc.reason)
		}
	}
}

// leaky lists URLs with the password "s3cr/t?#@", written in many wrong
// ways, each with what its error's URL must read.
var leaky = []struct{ raw, redacted string }{
	{"redis://:s3cr/t?#@h:notaport", "redis://:xxxxx@h:notaport"},
	{"redis://u:s3cr/t?#@h/x", "redis://u:xxxxx@h/x"},
	{"rediss://:s3cr/t?#@", "rediss://:xxxxx@"},
	{"unix://:s3cr/t?#@/tmp/s?db=x", "unix://:xxxxx@/tmp/s?db=x"},
	{"unix://:s3cr/t?#@host/tmp/s", "unix://:xxxxx@host/tmp/s"},
	{"s3cr/t?#@h:6379", "xxxxx@h:6379"},
	{"http://:s3cr/t?#@h", "http://:xxxxx@h"},
	{"redis://s3cr/t?#@h:6379", "redis://xxxxx@h:6379"},
	{"redis://:s3cr%zz/t?#@h", "redis://:xxxxx@h"},
	{"redis://:s3cr/t?#@h1:7000?addr=h2", "redis://:xxxxx@h1:7000?addr=h2"},
	{"redis://:s3cr/t?#@h1:7000/1?addr=h2:1", "redis://:xxxxx@h1:7000/1?addr=h2:1"},
	{"redis://h1:7000?addr=:s3cr/t?#@h2:1", "redis://h1:xxxxx@h2:1"}, // more than the password, never less
	{"redis://u:s3cr/t?#@s1:26379?master_name=", "redis://u:xxxxx@s1:26379?master_name="},
	{"redis://s3cr/t?#@s1:26379?master_name=m&foo", "redis://xxxxx@s1:26379?master_name=m&foo"},
}

// No error quotes the password, however the URL around it is wrong.
func TestErrorsHidePassword(t *testing.T) {
	for _, tc := range leaky {
		_, err := nodeurl.Parse(tc.raw)
		var ue *nodeurl.Error
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v: want a *nodeurl.Error", tc.raw, err)
			continue
		}
		for _, part := range []string{"s3cr", "t?#"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("Parse(%q): %q shows the password", tc.raw, err)
			}
		}
		if ue.URL != tc.redacted {
			t.Errorf("Parse(%q): URL %q, want %q", tc.raw, ue.URL, tc.redacted)
		}
	}
	for _, tc := range rejected {
		_, user, ok := strings.Cut(tc.raw, "://")
		at := strings.LastIndexByte(user, '@')
		if !ok || at < 0 {
			continue
		}
		_, password, _ := strings.Cut(user[:at], ":")
		if _, err := nodeurl.Parse(tc.raw); password != "" && strings.Contains(err.Error(), password) {
			t.Errorf("Parse(%q): %q shows the password", tc.raw, err)
		}
	}
}

// FuzzParse builds URLs around a password, "Q" + pass + "Q", and checks
// that Parse never panics, that no error shows the password, and that an
// accepted URL's Redacted form hides it and parses back to the same node.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct {
		scheme           byte
		user, pass, tail string
	}{
		{0, "", "pw", "h:6379/0"},
		{1, "user", "p@ss", "[::1]:6380/2"},
		{2, "", "s/ock", "/tmp/redis.sock?db=1"},
		{3, "", "pw", "h:6379"},
		{0, "u", "a/b?c#d", "h:notaport"},
		{0, "", "%zz", "h/x"},
		{2, "u", "x", "host/tmp/s"},
		{4, "", "pw", "h"},
		{0, "", "pw", "h1:7000?addr=h2:7001&addr=[::1]:7002"},
		{1, "u", "pw", "s1:26379/3?master_name=m%2F1&addr=s2:26380"},
		{0, "", "a?b", "h1:7000?addr=h2"},
	} {
		f.Add(seed.scheme, seed.user, seed.pass, seed.tail)
	}
	schemes := []string{"redis://", "rediss://", "unix://", "", "http://"}
	f.Fuzz(func(t *testing.T, scheme byte, user, pass, tail string) {
		if strings.ContainsAny(user, ":/?#@") || strings.Contains(user+pass+tail, "Q") {
			return // user information in which pass would not be the password
		}
		password := "Q" + pass + "Q"
		raw := schemes[int(scheme)%len(schemes)] + user + ":" + password + "@" + tail
		c, err := nodeurl.Parse(raw)
		if err != nil {
			var ue *nodeurl.Error
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q): %T %v, want a *nodeurl.Error", raw, err, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("Parse(%q): %q shows the password", raw, err)
			}
			return
		}
		redacted := c.Redacted()
		if strings.Contains(redacted, password) {
			t.Fatalf("Parse(%q).Redacted() = %q shows the password", raw, redacted)
		}
		back, err := nodeurl.Parse(redacted)
		if err != nil {
			t.Fatalf("Parse(%q).Redacted() = %q, which does not parse: %v", raw, redacted, err)
		}
		back.Password = c.Password
		if !reflect.DeepEqual(*back, *c) {
			t.Fatalf("Parse(%q) = %+v, but its Redacted form %q gives %+v", raw, *c, redacted, *back)
		}
	})
}

// A rediss:// URL takes the TLS files and a server name; Parse reads the
// files, and TLSConfig carries what they hold.
func TestTLSParameters(t *testing.T) {
	dir := t.TempDir()
	pki, err := conformance.WritePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape
	c, err := nodeurl.Parse("rediss://:pw@h:6380/1?tls_ca=" + q(pki.CA) + "&tls_cert=" + q(pki.ClientCert) + "&tls_key=" + q(pki.ClientKey) + "&tls_server_name=redis.internal")
	if err != nil {
		t.Fatal(err)
	}
	tc := c.TLSConfig()
	if tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "redis.internal" || c.ServerName != "redis.internal" {
		t.Errorf("TLSConfig() = %+v: want the CA, the client certificate and the server name", tc)
	}
	if got, want := c.Redacted(), "rediss://:xxxxx@h:6380/1?tls_ca="+q(pki.CA)+"&tls_cert="+q(pki.ClientCert)+"&tls_key="+q(pki.ClientKey)+"&tls_server_name=redis.internal"; got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	c, err = nodeurl.Parse("rediss://h1:7000?addr=h2:7000&tls_ca=" + q(pki.CA))
	if err != nil || !c.Cluster() || c.TLSConfig().RootCAs == nil || c.ServerName != "" {
		t.Errorf("a cluster with a CA: %+v, %v", c, err)
	}
	c, err = nodeurl.Parse("rediss://h?tls_ca=" + q(pki.CA))
	if err != nil || c.Addr != "h:6379" || c.ServerName != "h" {
		t.Errorf("a server with a CA and the default port: %+v, %v", c, err)
	}

	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("secret-ish content"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ raw, reason string }{
		{"redis://h?tls_ca=" + q(pki.CA), "TLS parameters go with rediss://"},
		{"rediss://h?tls_cert=" + q(pki.ClientCert), "tls_cert= and tls_key= go together"},
		{"rediss://h?tls_ca=" + q(filepath.Join(dir, "missing.pem")), "no such file"},
		{"rediss://h?tls_ca=" + q(notPEM), "no PEM certificate"},
		{"rediss://h?tls_cert=" + q(notPEM) + "&tls_key=" + q(notPEM), "do not load"},
		{"rediss://h?tls_ca=" + q(pki.CA) + "&tls_ca=" + q(pki.CA), "given twice"},
		{"rediss://h?tls_server_name=", "empty tls_server_name="},
	} {
		_, err := nodeurl.Parse(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.raw, err, tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), "secret-ish") {
			t.Errorf("Parse(%q): the error shows a file's contents: %v", tc.raw, err)
		}
	}
}
