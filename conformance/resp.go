package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Conn is a minimal RESP2 connection for inspecting and steering a test
// server (PTTL, FLUSHALL, SCRIPT FLUSH, ...) independently of the adapter
// under test. The root module carries no Redis client, so the suite speaks
// the protocol itself. Conn is safe for concurrent use; commands run one at
// a time, and a broken connection is redialled on the next command.
type Conn struct {
	addr string
	mu   sync.Mutex
	nc   net.Conn
	rd   *bufio.Reader
}

// Dial returns a Conn to addr (host:port). It connects on first use.
func Dial(addr string) *Conn { return &Conn{addr: addr} }

// Close closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return nil
	}
	err := c.nc.Close()
	c.nc = nil
	return err
}

// RedisError is an error reply from the server, such as "WRONGTYPE ...".
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Do sends one command and returns its reply: string, int64, []any, nil for
// a nil reply, or RedisError for an error reply. ctx's deadline bounds the
// whole exchange (5s when ctx has none).
func (c *Conn) Do(ctx context.Context, args ...string) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	if c.nc == nil {
		d := net.Dialer{Deadline: deadline}
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, err
		}
		c.nc, c.rd = nc, bufio.NewReader(nc)
	}
	nc := c.nc
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) }) // cancellation ends the exchange
	v, err := c.exchange(deadline, args)
	cancelled := !stop() // the deadline may be set to the past at any moment now: the connection is spent
	var re RedisError
	if (err != nil && !errors.As(err, &re)) || cancelled {
		c.nc.Close()
		c.nc = nil
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	return v, err
}

// Subscribe subscribes the connection to the channels matching pattern
// (PSUBSCRIBE), calls ready once the server confirmed it, then deliver with
// the channel of every message, until ctx ends (it returns nil) or the
// connection breaks (it returns the error). The connection is closed when
// Subscribe returns; a later Do dials a new one.
func (c *Conn) Subscribe(ctx context.Context, pattern string, ready func(), deliver func(channel string)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		c.nc, c.rd = nc, bufio.NewReader(nc)
	}
	nc := c.nc
	defer func() { nc.Close(); c.nc = nil }()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := nc.Write(command("PSUBSCRIBE", pattern)); err != nil {
		return err
	}
	for {
		v, err := readReply(c.rd)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		msg, _ := v.([]any)
		if len(msg) == 0 {
			continue
		}
		switch kind, _ := msg[0].(string); {
		case kind == "psubscribe":
			ready()
		case kind == "pmessage" && len(msg) == 4:
			ch, _ := msg[2].(string)
			deliver(ch)
		}
	}
}

// command encodes args as a RESP array of bulk strings.
func command(args ...string) []byte {
	buf := make([]byte, 0, 64)
	buf = append(buf, '*')
	buf = strconv.AppendInt(buf, int64(len(args)), 10)
	buf = append(buf, '\r', '\n')
	for _, a := range args {
		buf = append(buf, '$')
		buf = strconv.AppendInt(buf, int64(len(a)), 10)
		buf = append(buf, '\r', '\n')
		buf = append(buf, a...)
		buf = append(buf, '\r', '\n')
	}
	return buf
}

func (c *Conn) exchange(deadline time.Time, args []string) (any, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(command(args...)); err != nil {
		return nil, err
	}
	return readReply(c.rd)
}

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("resp: malformed line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			v, err := readReply(rd)
			var re RedisError
			if err != nil && !errors.As(err, &re) {
				return nil, err
			}
			if err != nil {
				v = re
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("resp: unknown reply type %q", kind)
}
