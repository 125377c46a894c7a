package raftmux

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newMux(t *testing.T, cfg Config) *Mux {
	t.Helper()
	m, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestDialAccept(t *testing.T) {
	a, b := newMux(t, DefaultConfig()), newMux(t, DefaultConfig())
	la, err := a.Layer("g1")
	if err != nil {
		t.Fatal(err)
	}
	lb1, err := b.Layer("g1")
	if err != nil {
		t.Fatal(err)
	}
	lb2, err := b.Layer("g2")
	if err != nil {
		t.Fatal(err)
	}
	defer lb2.Close()
	if got, want := lb1.Addr().String(), b.Addr().String(); got != want {
		t.Fatalf("layer addr: got %s, want %s", got, want)
	}

	c, err := la.Dial(b.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	s, err := lb1.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "ping" {
		t.Fatalf("got %q, want ping", buf)
	}
	// g2 got nothing.
	select {
	case c := <-lb2.ch:
		c.Close()
		t.Fatal("g2 received a connection dialed for g1")
	default:
	}
}

func TestDuplicateGroup(t *testing.T) {
	m := newMux(t, DefaultConfig())
	l, err := m.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Layer("g"); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("got %v, want ErrGroupExists", err)
	}
	l.Close()
	l2, err := m.Layer("g")
	if err != nil {
		t.Fatalf("re-register after Close: %v", err)
	}
	l2.Close()
	if _, err := m.Layer(""); !errors.Is(err, ErrBadGroup) {
		t.Fatalf("empty group: got %v, want ErrBadGroup", err)
	}
}

// expectClosed asserts that the server side closes c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("got n=%d err=%v, want the connection closed", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

func TestRejects(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HandshakeTimeout = 200 * time.Millisecond
	m := newMux(t, cfg)
	l, err := m.Layer("known")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := map[string][]byte{
		"unknown group": AppendHandshake(nil, "unknown"),
		"bad magic":     append([]byte("XXXX"), AppendHandshake(nil, "known")[4:]...),
		"bad version":   append(append([]byte(Magic), 9), AppendHandshake(nil, "known")[5:]...),
		"zero length":   append([]byte(Magic), Version, 0, 0),
		"silent":        nil, // handshake timeout
		"short":         AppendHandshake(nil, "known")[:6],
	}
	for name, hs := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", m.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(hs); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
		})
	}
}

func TestLayerClose(t *testing.T) {
	m := newMux(t, DefaultConfig())
	l, err := m.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	// A connection queued but never accepted is closed by Layer.Close.
	c, err := l.Dial(m.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(l.ch) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: got %v, want ErrClosed", err)
	}
	if _, err := l.Dial(m.Addr().String(), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial after Close: got %v, want ErrClosed", err)
	}
}

func TestMuxCloseUnblocksAccept(t *testing.T) {
	m, err := Listen("127.0.0.1:0", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	// A connection stuck in its handshake is closed by Mux.Close.
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	expectClosed(t, c)
	if _, err := m.Layer("h"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Layer after Close: got %v, want ErrClosed", err)
	}
}

func TestAdvertiseAddr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AdvertiseAddr = "node-1.example:7000"
	m := newMux(t, cfg)
	l, err := m.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Addr().String(); got != cfg.AdvertiseAddr {
		t.Fatalf("got %s, want %s", got, cfg.AdvertiseAddr)
	}
	if got := l.Addr().Network(); got != "tcp" {
		t.Fatalf("network: got %s, want tcp", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{HandshakeTimeout: -1}).Validate(); err == nil {
		t.Fatal("negative HandshakeTimeout accepted")
	}
	if err := (Config{AcceptBacklog: -1}).Validate(); err == nil {
		t.Fatal("negative AcceptBacklog accepted")
	}
}

// TestHandshakeFixture checks that the version-1 handshake still decodes.
func TestHandshakeFixture(t *testing.T) {
	path := filepath.Join("testdata", "handshake_v1.bin")
	want := AppendHandshake(nil, "collection-a.shard-0")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding changed: got %x, want %x", want, b)
	}
	g, err := ReadHandshake(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if g != "collection-a.shard-0" {
		t.Fatalf("got group %q", g)
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add(AppendHandshake(nil, "g"))
	f.Add(AppendHandshake(nil, "collection-a.shard-0"))
	f.Add(AppendHandshake(nil, string(bytes.Repeat([]byte{'x'}, MaxGroupLen))))
	f.Add([]byte("SHRM"))
	f.Add([]byte("SHRM\x01\x00\x00"))
	f.Add([]byte("SHRM\x02\x00\x01g"))
	f.Add([]byte("SHRM\x01\xff\xffg"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		g, err := ReadHandshake(r)
		if err != nil {
			return
		}
		if ValidGroup(g) != nil {
			t.Fatalf("decoded invalid group %q", g)
		}
		// Round trip: the consumed prefix re-encodes to the same bytes.
		consumed := len(b) - r.Len()
		if enc := AppendHandshake(nil, g); !bytes.Equal(enc, b[:consumed]) {
			t.Fatalf("re-encoding: got %x, want %x", enc, b[:consumed])
		}
	})
}

func TestLayerCloseClosesConns(t *testing.T) {
	a, b := newMux(t, DefaultConfig()), newMux(t, DefaultConfig())
	la, err := a.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	c, err := la.Dial(b.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := lb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Closing the dialing layer closes its dialed connection: the peer sees EOF.
	la.Close()
	expectClosed(t, s)

	// Closing the accepting layer closes accepted connections.
	la2, err := a.Layer("g")
	if err != nil {
		t.Fatal(err)
	}
	defer la2.Close()
	c2, err := la2.Dial(b.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s2, err := lb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	lb.Close()
	expectClosed(t, c2)
}

func TestAdvertiseZeroPort(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AdvertiseAddr = "127.0.0.1:0"
	m := newMux(t, cfg)
	if got, want := m.Addr().String(), m.ListenAddr().String(); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestConcurrentDialAccept dials several groups from several goroutines while
// another group's layer is opened and closed repeatedly.
func TestConcurrentDialAccept(t *testing.T) {
	a, b := newMux(t, DefaultConfig()), newMux(t, DefaultConfig())
	const groups, dials = 4, 20
	var servers []*Layer
	for i := range groups {
		l, err := b.Layer(fmt.Sprintf("g%d", i))
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, l)
	}
	var wg sync.WaitGroup
	for i, l := range servers {
		wg.Go(func() { // echo server
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 8)
					if _, err := io.ReadFull(c, buf); err == nil {
						c.Write(buf)
					}
				}()
			}
		})
		wg.Go(func() { // client
			cl, err := a.Layer(fmt.Sprintf("g%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			for j := range dials {
				c, err := cl.Dial(b.Addr().String(), time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				msg := fmt.Appendf(nil, "g%d-%04d", i, j)[:8]
				c.Write(msg)
				got := make([]byte, 8)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("echo: got %q (%v), want %q", got, err, msg)
				}
				c.Close()
			}
		})
	}
	churn := make(chan struct{})
	go func() {
		defer close(churn)
		for range 50 {
			l, err := b.Layer("churn")
			if err != nil {
				t.Error(err)
				return
			}
			l.Close()
		}
	}()
	<-churn
	// Let the clients finish, then stop the servers.
	time.Sleep(10 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.Lock()
		n := len(a.layers)
		a.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, l := range servers {
		l.Close()
	}
	wg.Wait()
}
