package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redlock-go/redlock/conformance"
)

// cluster is the set of local redis-server processes the bench starts and
// stops itself. A figure at N nodes uses the first N of them.
type cluster struct {
	servers []*conformance.Server
}

// startCluster starts n servers on free loopback ports. On error it stops
// the ones it started.
func startCluster(n int) (*cluster, error) {
	c := &cluster{}
	for range n {
		s, err := conformance.Start()
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		c.servers = append(c.servers, s)
	}
	return c, nil
}

// stop stops every server the cluster started. It is safe to call twice.
func (c *cluster) stop() {
	for _, s := range c.servers {
		s.Stop()
	}
}

// addrs returns the addresses of the first n servers.
func (c *cluster) addrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = c.servers[i].Addr
	}
	return out
}

// version returns the servers' redis_version.
func (c *cluster) version() string {
	v, err := c.servers[0].Do("INFO", "server")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(fmt.Sprint(v), "\r\n") {
		if after, ok := strings.CutPrefix(line, "redis_version:"); ok {
			return after
		}
	}
	return "unknown"
}

// flush empties the first n servers, so that a slice starts from no keys.
func (c *cluster) flush(n int) error {
	for _, s := range c.servers[:n] {
		if _, err := s.Do("FLUSHALL"); err != nil {
			return err
		}
	}
	return nil
}

// resetStats zeroes INFO commandstats on the first n servers.
func (c *cluster) resetStats(n int) error {
	for _, s := range c.servers[:n] {
		if _, err := s.Do("CONFIG", "RESETSTAT"); err != nil {
			return err
		}
	}
	return nil
}

// uncounted are left out of every command count: the bench's own commands,
// and PING, which idle clients of the other contenders send on their own
// schedule (rueidis keeps its connections alive that way).
var uncounted = map[string]bool{"info": true, "config|resetstat": true, "echo": true, "monitor": true, "ping": true}

// commandStats sums the calls of each command in INFO commandstats over the
// first n servers. Commands that scripts run are counted too, by name.
func (c *cluster) commandStats(n int) (map[string]int64, error) {
	out := map[string]int64{}
	for _, s := range c.servers[:n] {
		v, err := s.Do("INFO", "commandstats")
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(fmt.Sprint(v), "\r\n") {
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
			if !ok || uncounted[name] {
				continue
			}
			calls, _, _ := strings.Cut(rest, ",")
			k, err := strconv.ParseInt(calls, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats line %q: %w", line, err)
			}
			out[name] += k
		}
	}
	return out, nil
}

// monitor watches the first n servers with MONITOR, to tell the commands
// clients sent from those that scripts ran (MONITOR marks the latter "lua").
type monitor struct {
	c     *cluster
	conns []net.Conn
	rds   []*bufio.Reader
}

func (c *cluster) monitor(n int) (*monitor, error) {
	m := &monitor{c: c}
	for _, s := range c.servers[:n] {
		nc, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			m.close()
			return nil, err
		}
		m.conns = append(m.conns, nc)
		rd := bufio.NewReader(nc)
		m.rds = append(m.rds, rd)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte("*1\r\n$7\r\nMONITOR\r\n")); err != nil {
			m.close()
			return nil, err
		}
		if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
			m.close()
			return nil, fmt.Errorf("MONITOR on %s: %q %v", s.Addr, line, err)
		}
	}
	return m, nil
}

func (m *monitor) close() {
	for _, nc := range m.conns {
		nc.Close()
	}
}

// result sends a marker to every server, reads what each monitor saw before
// it, and closes the monitors. It returns how many commands clients sent and
// how many scripts ran, leaving out the uncounted ones.
func (m *monitor) result() (sent, scripted int64, err error) {
	defer m.close()
	marker := fmt.Sprintf("bench-marker-%d", time.Now().UnixNano())
	for i, rd := range m.rds {
		if _, err := m.c.servers[i].Do("ECHO", marker); err != nil {
			return 0, 0, err
		}
		m.conns[i].SetDeadline(time.Now().Add(10 * time.Second))
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return 0, 0, fmt.Errorf("MONITOR on %s: %w", m.c.servers[i].Addr, err)
			}
			if strings.Contains(line, marker) {
				break
			}
			source, name, ok := parseMonitorLine(line)
			switch {
			case !ok:
				return 0, 0, fmt.Errorf("MONITOR on %s: unexpected line %q", m.c.servers[i].Addr, line)
			case uncounted[name]:
			case source == "lua":
				scripted++
			default:
				sent++
			}
		}
	}
	return sent, scripted, nil
}

// parseMonitorLine splits `+1700000000.000000 [0 127.0.0.1:5000] "get" "k"`
// into its source ("127.0.0.1:5000" or "lua") and lower-case command name.
func parseMonitorLine(line string) (source, name string, ok bool) {
	_, rest, ok := strings.Cut(line, " [")
	if !ok {
		return "", "", false
	}
	inside, rest, ok := strings.Cut(rest, "] \"")
	if !ok {
		return "", "", false
	}
	_, source, _ = strings.Cut(inside, " ")
	name, _, ok = strings.Cut(rest, "\"")
	return source, strings.ToLower(name), ok
}
