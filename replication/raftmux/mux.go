package raftmux

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

var (
	// ErrClosed is returned by a closed Mux or Layer.
	ErrClosed = errors.New("raftmux: closed")
	// ErrGroupExists is returned by Mux.Layer when the group already has a Layer.
	ErrGroupExists = errors.New("raftmux: group already registered")
)

// Config tunes a Mux.
type Config struct {
	// AdvertiseAddr is the address peers dial to reach this Mux and what every
	// Layer's Addr reports. A zero port is replaced by the bound port.
	// Default: the listener's address.
	AdvertiseAddr string
	// HandshakeTimeout bounds reading an accepted connection's handshake and
	// writing a dialed connection's handshake. Default 5s.
	HandshakeTimeout time.Duration
	// AcceptBacklog is how many handshaken connections a Layer queues before
	// its Accept takes them; beyond it new connections are closed. Default 64.
	AcceptBacklog int
	// Logger receives rejected connections at debug level. Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{HandshakeTimeout: 5 * time.Second, AcceptBacklog: 64}
}

// Validate reports an error for negative or unusable settings.
func (c Config) Validate() error {
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("raftmux: HandshakeTimeout %v is negative", c.HandshakeTimeout)
	}
	if c.AcceptBacklog < 0 {
		return fmt.Errorf("raftmux: AcceptBacklog %d is negative", c.AcceptBacklog)
	}
	return nil
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.AcceptBacklog == 0 {
		c.AcceptBacklog = d.AcceptBacklog
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Mux serves one listener and dispatches its connections to per-group Layers.
// All methods are safe for concurrent use.
type Mux struct {
	ln  net.Listener
	cfg Config
	adv net.Addr

	mu      sync.Mutex
	layers  map[string]*Layer
	pending map[net.Conn]struct{} // accepted, handshake not yet read
	closed  bool

	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// Listen opens a TCP listener on addr and serves it.
func Listen(addr string, cfg Config) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raftmux: listen %s: %w", addr, err)
	}
	return New(ln, cfg)
}

// New serves ln until Close, which also closes ln.
func New(ln net.Listener, cfg Config) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	m := &Mux{
		ln:      ln,
		cfg:     cfg,
		adv:     ln.Addr(),
		layers:  make(map[string]*Layer),
		pending: make(map[net.Conn]struct{}),
	}
	if cfg.AdvertiseAddr != "" {
		m.adv = addr(advertise(cfg.AdvertiseAddr, ln.Addr()))
	}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

// Addr returns the advertised address.
func (m *Mux) Addr() net.Addr { return m.adv }

// ListenAddr returns the address the listener is bound to.
func (m *Mux) ListenAddr() net.Addr { return m.ln.Addr() }

// Layer registers group and returns its stream layer. The group must satisfy
// ValidGroup and have no open Layer.
func (m *Mux) Layer(group string) (*Layer, error) {
	if err := ValidGroup(group); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.layers[group]; ok {
		return nil, fmt.Errorf("%w: %q", ErrGroupExists, group)
	}
	l := &Layer{
		m:     m,
		group: group,
		hs:    AppendHandshake(nil, group),
		ch:    make(chan net.Conn, m.cfg.AcceptBacklog),
		done:  make(chan struct{}),
	}
	m.layers[group] = l
	return l, nil
}

// Close stops the listener, closes every Layer and every connection still in
// its handshake, and waits for the Mux's goroutines. Connections already
// returned by Accept or Dial belong to their caller.
func (m *Mux) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		layers := make([]*Layer, 0, len(m.layers))
		for _, l := range m.layers {
			layers = append(layers, l)
		}
		for c := range m.pending {
			c.Close()
		}
		m.mu.Unlock()
		m.closeErr = m.ln.Close()
		for _, l := range layers {
			l.Close()
		}
		m.wg.Wait()
	})
	return m.closeErr
}

func (m *Mux) serve() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (e.g. too many open files): back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.cfg.Logger.Warn("raftmux: accept", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.pending[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.handle(c)
	}
}

// handle reads c's handshake and hands c to its group's Layer.
func (m *Mux) handle(c net.Conn) {
	defer m.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	group, err := ReadHandshake(c)
	_ = c.SetReadDeadline(time.Time{})

	m.mu.Lock()
	_, stillPending := m.pending[c]
	delete(m.pending, c)
	l := m.layers[group]
	closed := m.closed
	m.mu.Unlock()

	switch {
	case closed || !stillPending:
		c.Close()
	case err != nil:
		m.cfg.Logger.Debug("raftmux: rejected connection", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
	case l == nil:
		m.cfg.Logger.Debug("raftmux: connection for unknown group", "remote", c.RemoteAddr().String(), "group", group)
		c.Close()
	default:
		l.deliver(c)
	}
}

// Layer is one group's stream layer: a net.Listener fed by the Mux plus Dial.
// All methods are safe for concurrent use.
type Layer struct {
	m     *Mux
	group string
	hs    []byte // this group's handshake, written by Dial

	mu     sync.Mutex
	closed bool
	conns  map[*conn]struct{} // accepted (queued or taken) and dialed, not yet closed
	ch     chan net.Conn
	done   chan struct{}
}

// Group returns the layer's group id.
func (l *Layer) Group() string { return l.group }

func (l *Layer) deliver(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return
	}
	select {
	case l.ch <- l.trackLocked(c):
	default:
		l.m.cfg.Logger.Warn("raftmux: accept backlog full, closing connection", "group", l.group)
		c.Close()
	}
}

// Accept waits for the next connection dialed to this layer's group.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, ErrClosed
	}
}

// Close unregisters the group from the Mux, makes Accept return ErrClosed and
// closes every connection the layer accepted or dialed, so that nothing of the
// group stays connected after its transport stops. It does not close the Mux.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()

	for c := range conns {
		c.Conn.Close()
	}
	for drained := false; !drained; {
		select {
		case c := <-l.ch:
			c.Close()
		default:
			drained = true
		}
	}

	l.m.mu.Lock()
	if l.m.layers[l.group] == l {
		delete(l.m.layers, l.group)
	}
	l.m.mu.Unlock()
	return nil
}

// Addr returns the Mux's advertised address.
func (l *Layer) Addr() net.Addr { return l.m.adv }

// Dial connects to the Mux at address and writes this group's handshake. The
// timeout bounds the connect and, separately, the handshake write; zero means
// the Mux's HandshakeTimeout.
func (l *Layer) Dial(address string, timeout time.Duration) (net.Conn, error) {
	select {
	case <-l.done:
		return nil, ErrClosed
	default:
	}
	if timeout <= 0 {
		timeout = l.m.cfg.HandshakeTimeout
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("raftmux: dial %s: %w", address, err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(l.hs); err != nil {
		c.Close()
		return nil, fmt.Errorf("raftmux: write handshake to %s: %w", address, err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, ErrClosed
	}
	return l.trackLocked(c), nil
}

// trackLocked wraps c so that Layer.Close can close it. l.mu is held.
func (l *Layer) trackLocked(c net.Conn) *conn {
	tc := &conn{Conn: c, l: l}
	if l.conns == nil {
		l.conns = make(map[*conn]struct{})
	}
	l.conns[tc] = struct{}{}
	return tc
}

// conn is a connection owned by a Layer until its user closes it.
type conn struct {
	net.Conn
	l *Layer
}

// Close closes the connection and forgets it.
func (c *conn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// advertise returns adv with a zero port replaced by the bound port, so that
// "10.0.0.5:0" advertises the port the listener actually got.
func advertise(adv string, bound net.Addr) string {
	host, port, err := net.SplitHostPort(adv)
	if err != nil || port != "0" {
		return adv
	}
	_, bport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return adv
	}
	return net.JoinHostPort(host, bport)
}

// addr is a net.Addr for an advertised host:port.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
