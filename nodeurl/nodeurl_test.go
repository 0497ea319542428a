package nodeurl_test

import (
	"errors"
	"strings"
	"testing"

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
	} {
		c, err := nodeurl.Parse(tc.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if *c != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.raw, *c, tc.want)
		}
		if got := c.Redacted(); got != tc.redacted {
			t.Errorf("Parse(%q).Redacted() = %q, want %q", tc.raw, got, tc.redacted)
		}
		if (c.TLSConfig() != nil) != c.TLS || c.TLS && c.TLSConfig().ServerName != c.ServerName {
			t.Errorf("Parse(%q).TLSConfig() = %+v", tc.raw, c.TLSConfig())
		}
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
	{"redis://h:6379/0?foo=bar", "query parameters are not allowed"},
	{"redis://h:6379/?db=1", "query parameters are not allowed"},
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
		if *back != *c {
			t.Fatalf("Parse(%q) = %+v, but its Redacted form %q gives %+v", raw, *c, redacted, *back)
		}
	})
}
