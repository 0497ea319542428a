// Package nodeurl reads the URLs that name one node of a Locker: a Redis
// server, a Redis Cluster or a Sentinel group. Every adapter's
// NewNodeFromURL and the redlock command read them here, so a URL means the
// same thing, and is refused for the same reason, whichever client is used.
//
// The accepted forms, exactly:
//
//	redis://[[user]:password@]host[:port][/db]
//	rediss://[[user]:password@]host[:port][/db]      (TLS)
//	unix://[[user]:password@]/path/to/socket[?db=N]
//	host:port                                        (means redis://host:port)
//	redis://[[user]:password@]host:port[/0]?addr=host:port[&addr=host:port]...
//	                                                 (a Redis Cluster)
//	redis://[[user]:password@]host:port[/db]?master_name=NAME[&addr=host:port]...
//	                                                 (a Sentinel group)
//
// The last two forms may be rediss:// as well, and their parameters come in
// any order. A rediss:// URL of any form also takes, in its query,
// tls_ca=FILE (the PEM file of the authorities that sign the servers'
// certificates; the system's by default), tls_cert=FILE and tls_key=FILE
// together (a client certificate and its key, for mutual TLS), and
// tls_server_name=NAME (the name the server's certificate must carry, by
// default the host). The server's certificate is always verified; Parse
// reads the files and refuses the URL when they do not load.
//
// The scheme is case-insensitive. The port defaults to 6379; an IPv6 host
// is written in brackets ([::1]:6379). db is a non-negative decimal
// integer, 0 by default: the path of a redis:// or rediss:// URL, the only
// query parameter of a unix:// URL.
// A password alone (":password@") is for requirepass, "user:password@" for
// an ACL user. The user name, the password and the socket path are
// percent-decoded; a "/", "?", "#" or "@" in a password must be written
// %2F, %3F, %23 or %40.
//
// A Redis Cluster is named by at least two of its nodes, from which a
// cluster client learns the others: the host and one addr= parameter for
// each further node, as go-redis's ParseClusterURL and rueidis's ParseURL
// read them. A cluster has only database 0.
//
// A Sentinel group is named by the name under which its sentinels monitor
// the master (master_name=, as go-redis's ParseFailoverURL reads it;
// master_set=, rueidis's name for it, is the same parameter) and by its
// sentinels: the host and each addr= parameter. The user information and
// the database are the master's; the sentinels are asked without
// credentials, so a group whose sentinels require a password needs a
// client built by hand. (go-redis's ParseFailoverURL reads the user
// information as the sentinels' instead.)
//
// In these two forms every address, the host's too, has its port, and no
// address may be given twice. The parameter values are percent-decoded
// (":" may be written %3A). A Cluster or a Sentinel group counts as one
// node of a Locker: a failover can lose a lock written to the old master,
// since replication is asynchronous, so Redlock's safety comes from
// several independent nodes.
//
// Anything else is refused: another scheme, an empty host, a bad port, a
// path that is not a database number, any other query parameter (db= in a
// redis:// URL too: the database is its path), a fragment, addr= or
// master_name= in a unix:// URL, and a user name with no password, which
// clients read in different ways (as a user with no password, or as a
// password).
//
// Errors never contain the password, nor text that may be part of one: a
// URL in an error has everything that may be its user information replaced
// by "xxxxx", as url.URL.Redacted does.
package nodeurl

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Default is the URL that an empty URL means: the local server's database 0.
const Default = "redis://127.0.0.1:6379/0"

// Config is what a node URL says: where the server is (or the servers of
// a cluster, or the sentinels of a group), how to log in and which
// database to use.
type Config struct {
	// Network is "tcp", or "unix" for a unix:// URL.
	Network string
	// Addr is host:port (IPv6 hosts in brackets) for tcp, the socket path
	// for unix: the URL's host, the first of Addrs.
	Addr string
	// Addrs is every address the URL names: Addr, then the address of each
	// addr= parameter in order. More than one address without MasterName
	// names a cluster (see Cluster), whose seed nodes they are; with
	// MasterName they are the sentinels.
	Addrs []string
	// MasterName is the name under which the sentinels at Addrs monitor
	// the master, for a Sentinel group; empty otherwise.
	MasterName string
	// Username is the ACL user, empty for the default user.
	Username string
	// Password is the user's password, empty for none.
	Password string
	// DB is the database number.
	DB int
	// TLS is true for a rediss:// URL.
	TLS bool
	// ServerName is the host of a tcp URL that names one server, against
	// which a TLS client verifies the server's certificate. It is empty for
	// unix, and for a cluster or a Sentinel group, whose clients connect to
	// servers that the URL does not name: each connection then verifies
	// the host it dials. tls_server_name= sets it for every form.
	ServerName string
	// CAFile, from tls_ca=, is the PEM file of the authorities that sign
	// the servers' certificates; empty: the system's.
	CAFile string
	// CertFile and KeyFile, from tls_cert= and tls_key=, are the PEM files
	// of the client certificate and its key, for servers that verify
	// clients (mutual TLS); empty: none.
	CertFile, KeyFile string

	serverNameSet string            // from tls_server_name=
	roots         *x509.CertPool    // read from CAFile
	certs         []tls.Certificate // read from CertFile and KeyFile
}

// Cluster reports whether c names a Redis Cluster: several addresses and
// no MasterName.
func (c *Config) Cluster() bool { return len(c.Addrs) > 1 && c.MasterName == "" }

// NodeAddr returns the Addr of a Node that an adapter builds from c, the
// same whichever adapter builds it: Addr for one server; for a cluster,
// Addrs joined by ","; for a Sentinel group, MasterName and then the
// sentinels' addresses, joined by ",", in parentheses, as in
// "mymaster(10.0.0.1:26379,10.0.0.2:26379)".
func (c *Config) NodeAddr() string {
	switch {
	case c.MasterName != "":
		return c.MasterName + "(" + strings.Join(c.addrs(), ",") + ")"
	case c.Cluster():
		return strings.Join(c.Addrs, ",")
	}
	return c.Addr
}

// addrs returns Addrs, or Addr alone for a Config that has no Addrs.
func (c *Config) addrs() []string {
	if len(c.Addrs) == 0 {
		return []string{c.Addr}
	}
	return c.Addrs
}

// Parse reads raw, one of the forms in the package doc; an empty raw means
// Default. Every error it returns is a *Error, whose text does not contain
// the password.
func Parse(raw string) (*Config, error) {
	if raw == "" {
		raw = Default
	}
	c, reason := parse(raw)
	if reason != "" {
		return nil, NewError(raw, reason)
	}
	return c, nil
}

// TLSConfig returns the TLS settings for c: nil without TLS, otherwise a
// new config that verifies the server's certificate against ServerName,
// with the authorities of CAFile (the system's when none is given), offers
// the client certificate of CertFile and KeyFile if given, and requires
// TLS 1.2 or later. The files are read by Parse.
func (c *Config) TLSConfig() *tls.Config {
	if !c.TLS {
		return nil
	}
	return &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12, RootCAs: c.roots, Certificates: c.certs}
}

// tlsParams lists the TLS parameters for an error about the query.
const tlsParams = "; a rediss:// URL also takes tls_ca=FILE, tls_cert=FILE with tls_key=FILE, and tls_server_name=NAME"

// loadTLS reads the files that the TLS parameters name. Its errors name
// the files, never their contents.
func (c *Config) loadTLS() string {
	if c.serverNameSet != "" {
		c.ServerName = c.serverNameSet
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return "tls_ca=: " + err.Error()
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			return "tls_ca=" + c.CAFile + ": no PEM certificate in the file"
		}
	}
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		return "tls_cert= and tls_key= go together: the client certificate and its key"
	case c.CertFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return "tls_cert=" + c.CertFile + ", tls_key=" + c.KeyFile + ": the client certificate and key do not load: " + tlsLoadReason(err)
		}
		c.certs = []tls.Certificate{cert}
	}
	return ""
}

// tlsLoadReason is why a key pair did not load, in words that quote
// nothing of the files.
func tlsLoadReason(err error) string {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return err.Error()
	}
	return "not a matching PEM certificate and private key"
}

// Redacted returns c as a URL in the forms of the package doc other than
// a bare host:port (a redis:// URL comes back for it), with the database
// always given, the further addresses as addr= parameters, then
// master_name= for a Sentinel group, then the TLS parameters, and the
// password, if any, written "xxxxx".
func (c *Config) Redacted() string {
	u := url.URL{Scheme: "redis", Host: c.Addr, Path: "/" + strconv.Itoa(c.DB)}
	switch {
	case c.Network == "unix":
		u = url.URL{Scheme: "unix", Path: c.Addr, RawQuery: "db=" + strconv.Itoa(c.DB)}
	case c.TLS:
		u.Scheme = "rediss"
	}
	if c.Network != "unix" {
		var params []string
		for _, a := range c.addrs()[1:] {
			params = append(params, "addr="+a)
		}
		if c.MasterName != "" {
			params = append(params, "master_name="+url.QueryEscape(c.MasterName))
		}
		for _, p := range [][2]string{{"tls_ca", c.CAFile}, {"tls_cert", c.CertFile}, {"tls_key", c.KeyFile}, {"tls_server_name", c.serverNameSet}} {
			if p[1] != "" {
				params = append(params, p[0]+"="+url.QueryEscape(p[1]))
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	if c.Username != "" || c.Password != "" {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	return u.String()
}

// NewError returns the *Error of a node URL raw that is refused for
// reason, with raw redacted as in Parse's errors. It serves adapters that
// refuse a URL that Parse accepts, such as a cluster URL for a client that
// has no cluster support. reason must not quote the password.
func NewError(raw, reason string) *Error {
	return &Error{URL: redact(raw), Reason: reason}
}

// Error is the error of a node URL that Parse refuses.
type Error struct {
	// URL is the URL as given, with everything that may be its user
	// information, password included, replaced by "xxxxx".
	URL string
	// Reason says what is wrong and, where it helps, what to write instead.
	// It never quotes the password.
	Reason string
}

// Error returns `redlock: node URL "<URL>": <Reason>`.
func (e *Error) Error() string {
	return "redlock: node URL " + strconv.Quote(e.URL) + ": " + e.Reason
}

// Reasons shared by several forms.
const (
	wantForms   = "want redis://host:port[/db], rediss://host:port[/db], unix:///path/to/socket[?db=N] or a bare host:port (or, for a cluster or a Sentinel group, redis://host:port?addr=host:port or redis://host:port?master_name=NAME)"
	encodeHint  = `; a "/", "?", "#" or "@" in a user name or password must be written %2F, %3F, %23 or %40`
	userOnly    = "a user name with no password is ambiguous: write %s://:password@%s for a password alone, or %s://user:password@%s for an ACL user"
	badEscape   = "bad percent-encoding in the user name or password"
	noFragment  = "a fragment (#...) is not allowed"
	badDatabase = "database %q: want a non-negative integer"
)

// parse reads raw; on failure it returns a reason, which must not quote
// anything that may be part of a password.
func parse(raw string) (*Config, string) {
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, "a space or control character in the URL"
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return parseBare(raw)
	}
	switch strings.ToLower(scheme) {
	case "redis":
		return parseTCP(rest, "redis", false)
	case "rediss":
		return parseTCP(rest, "rediss", true)
	case "unix":
		return parseUnix(rest)
	}
	if !validScheme(scheme) {
		return nil, "not a URL: " + wantForms
	}
	return nil, "scheme " + strconv.Quote(scheme) + ": " + wantForms
}

// parseBare reads host:port, which may carry nothing else.
func parseBare(raw string) (*Config, string) {
	if strings.ContainsAny(raw, "/?#@") {
		return nil, "not a URL: " + wantForms
	}
	c := &Config{Network: "tcp"}
	host, port, reason := splitHostPort(raw)
	if reason != "" {
		return nil, reason
	}
	if port == "" {
		return nil, "a bare address needs its port (host:port), or write redis://" + raw
	}
	c.Addr, c.ServerName = net.JoinHostPort(host, port), host
	c.Addrs = []string{c.Addr}
	return c, ""
}

// parseTCP reads what follows redis:// or rediss://.
func parseTCP(rest, scheme string, useTLS bool) (*Config, string) {
	authority, tail := cutAuthority(rest)
	if strings.Contains(tail, "@") {
		return nil, "an @ after the host" + encodeHint
	}
	c := &Config{Network: "tcp", TLS: useTLS}
	hostport, reason := c.readUserinfo(authority, scheme, "host")
	if reason != "" {
		return nil, reason
	}
	host, port, reason := splitHostPort(hostport)
	if reason != "" {
		return nil, reason
	}
	hostPort := port != ""
	if !hostPort {
		port = "6379"
	}
	c.Addr, c.ServerName = net.JoinHostPort(host, port), host
	c.Addrs = []string{c.Addr}

	path, query, hasQuery := strings.Cut(tail, "?")
	switch {
	case strings.Contains(tail, "#"):
		return nil, noFragment
	case path == "" || path == "/":
	default:
		db := path[1:]
		if strings.Contains(db, "/") {
			return nil, "path " + strconv.Quote(path) + ": want /db, a database number"
		}
		if c.DB, reason = readDB(db); reason != "" {
			return nil, reason
		}
	}
	if !hasQuery {
		return c, ""
	}
	if reason := c.readQuery(query, scheme); reason != "" {
		return nil, reason
	}
	if len(c.Addrs) == 1 && c.MasterName == "" {
		return c, c.loadTLS()
	}
	switch {
	case !hostPort:
		return nil, "the host has no port: in a URL with addr= or master_name= every address has its port (" + scheme + "://host:port?...)"
	case c.Cluster() && c.DB != 0:
		return nil, fmt.Sprintf("database %d: a cluster has only database 0", c.DB)
	}
	if c.serverNameSet == "" {
		c.ServerName = "" // the client verifies each server it dials
	}
	return c, c.loadTLS()
}

// readQuery reads the query of a redis:// or rediss:// URL: addr=
// parameters, which it appends to c.Addrs, master_name= (or master_set=),
// which sets c.MasterName, and, in a rediss:// URL, the TLS parameters.
func (c *Config) readQuery(query, scheme string) string {
	if query == "" {
		return "an empty query (a ? with nothing after it)"
	}
	masterParam := ""
	for _, param := range strings.Split(query, "&") {
		key, value, _ := strings.Cut(param, "=")
		switch key {
		case "addr":
			v, err := url.QueryUnescape(value)
			if err != nil {
				return "addr=" + strconv.Quote(value) + ": bad percent-encoding"
			}
			if v == "" {
				return "addr= with no address: want addr=host:port"
			}
			if strings.Contains(v, "@") {
				return "addr= takes host:port alone: the user name and password go before the first host" + encodeHint
			}
			host, port, reason := splitHostPort(v)
			if reason != "" {
				return "addr=" + strconv.Quote(v) + ": " + reason
			}
			if port == "" {
				return "addr=" + strconv.Quote(v) + ": every address has its port: want addr=host:port"
			}
			a := net.JoinHostPort(host, port)
			if slices.Contains(c.Addrs, a) {
				return "address " + a + " given twice"
			}
			c.Addrs = append(c.Addrs, a)
		case "master_name", "master_set":
			switch masterParam {
			case "":
			case key:
				return key + "= given twice"
			default:
				return masterParam + "= and " + key + "= are the same parameter: give the master name once"
			}
			masterParam = key
			v, err := url.QueryUnescape(value)
			if err != nil {
				return key + "=" + strconv.Quote(value) + ": bad percent-encoding"
			}
			if v == "" {
				return "empty " + key + "=: want the name under which the sentinels monitor the master"
			}
			if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return key + "=" + strconv.Quote(v) + ": a space or control character in the master name"
			}
			c.MasterName = v
		case "tls_ca", "tls_cert", "tls_key", "tls_server_name":
			if !c.TLS {
				return key + "= in a " + scheme + ":// URL: TLS parameters go with rediss://"
			}
			v, err := url.QueryUnescape(value)
			if err != nil {
				return key + "=" + strconv.Quote(value) + ": bad percent-encoding"
			}
			if v == "" {
				return "empty " + key + "="
			}
			field := map[string]*string{"tls_ca": &c.CAFile, "tls_cert": &c.CertFile, "tls_key": &c.KeyFile, "tls_server_name": &c.serverNameSet}[key]
			if *field != "" {
				return key + "= given twice"
			}
			*field = v
		case "db":
			return "query parameter db=: give the database in the path, " + scheme + "://host:port/db"
		default:
			return "query parameter " + strconv.Quote(key) + ": a " + scheme + ":// URL takes only addr=host:port (a further node of a cluster, or a further sentinel), master_name=NAME (a Sentinel group)" + tlsParams
		}
	}
	return ""
}

// parseUnix reads what follows unix://.
func parseUnix(rest string) (*Config, string) {
	authority, tail := cutAuthority(rest)
	c := &Config{Network: "unix"}
	host, reason := c.readUserinfo(authority, "unix", "/path/to/socket")
	if reason != "" {
		if strings.Contains(tail, "@") {
			reason += encodeHint
		}
		return nil, reason
	}
	if host != "" {
		reason = "a unix:// URL has no host: write unix:///path/to/socket, with three slashes"
		if strings.Contains(tail, "@") {
			reason += encodeHint
		}
		return nil, reason
	}
	if strings.Contains(tail, "#") {
		return nil, noFragment
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if path == "" {
		return nil, "no socket path: want unix:///path/to/socket"
	}
	p, err := url.PathUnescape(path)
	if err != nil {
		return nil, "bad percent-encoding in the socket path"
	}
	c.Addr = p
	c.Addrs = []string{p}
	if !hasQuery {
		return c, ""
	}
	for _, param := range strings.Split(query, "&") {
		switch key, _, _ := strings.Cut(param, "="); key {
		case "addr", "master_name", "master_set":
			return nil, key + "= in a unix:// URL: a cluster or a Sentinel group is named with redis:// or rediss:// and host:port addresses"
		}
	}
	db, ok := strings.CutPrefix(query, "db=")
	if !ok || strings.Contains(db, "&") {
		return nil, "query " + strconv.Quote(query) + ": a unix:// URL takes one parameter, db=N"
	}
	if c.DB, reason = readDB(db); reason != "" {
		return nil, reason
	}
	return c, ""
}

// cutAuthority splits what follows "scheme://" at the end of its authority:
// the first "/", "?" or "#".
func cutAuthority(rest string) (authority, tail string) {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// readUserinfo sets c's Username and Password from the user information
// that ends at the last "@" of authority, and returns what follows it.
// scheme and host shape the advice for a user name with no password.
func (c *Config) readUserinfo(authority, scheme, host string) (string, string) {
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return authority, ""
	}
	user, password, ok := strings.Cut(authority[:at], ":")
	if !ok || password == "" {
		return "", fmt.Sprintf(userOnly, scheme, host, scheme, host)
	}
	var err1, err2 error
	c.Username, err1 = url.PathUnescape(user)
	c.Password, err2 = url.PathUnescape(password)
	if err1 != nil || err2 != nil {
		return "", badEscape
	}
	return authority[at+1:], ""
}

// splitHostPort splits host[:port], with an IPv6 host in brackets, and
// checks both; port is empty when not given.
func splitHostPort(hostport string) (host, port, reason string) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", "an IPv6 host without its closing ]"
		}
		host, after := hostport[1:end], hostport[end+1:]
		addr, err := netip.ParseAddr(strings.Replace(host, "%25", "%", 1))
		if err != nil || !addr.Is6() {
			return "", "", "host " + strconv.Quote(host) + ": not an IPv6 address"
		}
		host = addr.String()
		if after == "" {
			return host, "", ""
		}
		port, ok := strings.CutPrefix(after, ":")
		if !ok {
			return "", "", "text after the ] of an IPv6 host: want [host]:port"
		}
		return host, port, checkPort(port)
	}
	host, port, hasPort := strings.Cut(hostport, ":")
	switch {
	case strings.Contains(port, ":"):
		return "", "", "an IPv6 host must be in brackets: [" + hostport + "]:6379"
	case host == "":
		return "", "", "empty host"
	case !validHost(host):
		return "", "", "host " + strconv.Quote(host) + ": want a host name or an IP address"
	case hasPort:
		return host, port, checkPort(port)
	}
	return host, "", ""
}

// checkPort returns a reason if port is not a number from 1 to 65535.
func checkPort(port string) string {
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || !allDigits(port) {
		return "port " + strconv.Quote(port) + ": want a number from 1 to 65535"
	}
	return ""
}

// readDB reads a database number.
func readDB(s string) (int, string) {
	n, err := strconv.Atoi(s)
	if err != nil || !allDigits(s) {
		return 0, fmt.Sprintf(badDatabase, s)
	}
	return n, ""
}

func allDigits(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// validHost accepts host names and IPv4 addresses: letters, digits, "-",
// "_" and ".".
func validHost(host string) bool {
	return !strings.ContainsFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// validScheme reports whether s has the shape of a URL scheme (RFC 3986).
func validScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

// redact returns raw with everything that may be user information replaced
// by "xxxxx", keeping a user name that is followed by ":". User information
// ends at the last "@" of the authority; when an "@" also follows the
// authority, a password may hold a raw "/", "?" or "#", and it ends at the
// last "@" of the URL. A URL whose authority is empty (unix:///path) has
// none.
func redact(raw string) string {
	prefix, rest := "", raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", after
	}
	if strings.HasPrefix(rest, "/") {
		return raw
	}
	authority, _ := cutAuthority(rest)
	at := strings.LastIndexByte(authority, '@')
	if last := strings.LastIndexByte(rest, '@'); last >= len(authority) {
		at = last
	}
	if at < 0 {
		return raw
	}
	userinfo := "xxxxx"
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		userinfo = user + ":xxxxx"
	}
	return prefix + userinfo + rest[at:]
}
