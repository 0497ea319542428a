package faults

import (
	"context"
	"net"
	"sync"
	"time"
)

// mode is what a Proxy does with traffic.
type mode int

const (
	pass      mode = iota // forward, after the set latency
	blackhole             // accept and read, deliver nothing until healed
	refuse                // close every connection, new and existing
)

// Proxy forwards TCP connections from a loopback port to one server and
// misbehaves on command: it adds latency, drops connections, and partitions
// the server off. It sits between a client and its server so that a test
// can break the network of one client to one server and leave the rest
// alone.
//
// Bytes are never lost inside a connection, as on a real network: a
// partition holds them back (Blackhole) and delivers them late when healed,
// or ends the connection (Refuse, Drop). A Proxy is safe for concurrent
// use; Close ends every goroutine it started.
type Proxy struct {
	ln     net.Listener
	target string
	quit   chan struct{} // closed by Close
	wg     sync.WaitGroup

	mu      sync.Mutex
	mode    mode
	latency time.Duration
	changed chan struct{} // closed and replaced when mode changes
	links   map[*link]struct{}
	closed  bool
}

// NewProxy listens on a free loopback port and forwards each connection
// made to it to target (host:port). Stop it with Close.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		ln: ln, target: target, quit: make(chan struct{}),
		changed: make(chan struct{}), links: make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address of the server behind the Proxy.
func (p *Proxy) Target() string { return p.target }

// SetLatency delays every chunk of data read from now on, in each direction,
// by d. Zero forwards at once.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// Blackhole partitions the server off without closing anything: new
// connections are accepted and not forwarded, data of existing ones is read
// and held. Heal delivers what was held, in order.
func (p *Proxy) Blackhole() { p.setMode(blackhole) }

// Refuse partitions the server off by closing every connection, existing
// and new, as a host that answers with resets. Data held by an earlier
// Blackhole is discarded.
func (p *Proxy) Refuse() {
	p.setMode(refuse)
	p.Drop()
}

// Heal ends a partition: traffic flows again, and data held by Blackhole
// is delivered.
func (p *Proxy) Heal() { p.setMode(pass) }

// Drop closes every connection open now, discarding data in flight, and
// reports how many there were. New connections are unaffected.
func (p *Proxy) Drop() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return len(links)
}

// Close stops listening, closes every connection and waits until every
// goroutine of the Proxy has returned. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.quit)
	p.mu.Unlock()
	err := p.ln.Close()
	p.Drop()
	p.wg.Wait()
	return err
}

func (p *Proxy) setMode(m mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

// state returns the mode, and a channel closed when it next changes.
func (p *Proxy) state() (mode, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.changed
}

func (p *Proxy) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed; on loopback nothing else ends a listener
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve connects l to the server once the proxy lets traffic through, and
// forwards both directions until either side ends.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	for {
		m, changed := p.state()
		if m == pass {
			break
		}
		if m == refuse {
			if tc, ok := l.client.(*net.TCPConn); ok {
				tc.SetLinger(0) // answer with a reset, as a closed port does
			}
			l.close()
			return
		}
		select { // blackholed: the connection hangs, as a SYN with no answer would
		case <-changed:
		case <-l.done:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	watched := make(chan struct{})
	go func() { // Close or Drop abandon the dial
		defer close(watched)
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	s, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	<-watched
	if err != nil {
		l.close() // the server is down: the client sees its connection end
		return
	}
	if !l.attach(s) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pump(l, s, l.client)
	}()
	p.pump(l, l.client, s)
	wg.Wait()
}

func (p *Proxy) forget(l *link) {
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is data read from one side, due at the other side at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst through a queue: this goroutine reads, another
// delivers each chunk when it is due and the proxy passes traffic. When src
// ends, what was read is still delivered, then the link closes.
func (p *Proxy) pump(l *link, src, dst net.Conn) {
	queue := make(chan chunk, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.deliver(l, queue, dst)
	}()
	defer wg.Wait()
	defer close(queue)
	for {
		buf := make([]byte, 16<<10)
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case queue <- chunk{data: buf[:n], due: time.Now().Add(p.delay())}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) deliver(l *link, queue <-chan chunk, dst net.Conn) {
	defer l.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for c := range queue {
		if wait := time.Until(c.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}
		for {
			m, changed := p.state()
			if m == pass {
				break
			}
			if m == refuse {
				return
			}
			select {
			case <-changed:
			case <-l.done:
				return
			}
		}
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}

// link is one client connection and, once dialled, its server connection.
type link struct {
	client net.Conn
	done   chan struct{} // closed by close

	mu     sync.Mutex
	server net.Conn
	ended  bool
}

// attach records the server connection; it reports false, and closes s,
// when the link has already been closed.
func (l *link) attach(s net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		s.Close()
		return false
	}
	l.server = s
	return true
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	close(l.done)
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}
