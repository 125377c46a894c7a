package replication_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shoal-search/shoal/replication"
)

// counter is a StateMachine that counts its commands.
type counter struct{ n int }

func (c *counter) Apply(_ uint64, cmd []byte) ([]byte, error) {
	c.n++
	return fmt.Appendf(nil, "%s is #%d", cmd, c.n), nil
}
func (c *counter) Snapshot() (replication.Snapshot, error) { return snap(c.n), nil }
func (c *counter) Restore(r io.Reader, _ uint64) error {
	_, err := fmt.Fscan(r, &c.n)
	return err
}

type snap int

func (s snap) WriteTo(w io.Writer) (int64, error) {
	n, err := fmt.Fprint(w, int(s))
	return int64(n), err
}
func (snap) Release() {}

// Example runs a one-replica group and proposes a command.
func Example() {
	dir, _ := os.MkdirTemp("", "replication-example")
	defer os.RemoveAll(dir)

	h, err := replication.New(replication.Config{NodeID: "n1", Dir: dir})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	g, err := h.Open("coll.shard-0", &counter{}, []replication.Peer{{ID: "n1", Addr: h.Addr()}})
	if err != nil {
		panic(err)
	}
	for !g.IsLeader() { // a real caller reacts to Config.OnLeaderChange instead
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := g.Propose(ctx, []byte("hello"))
	fmt.Println(string(resp), err)
	// Output: hello is #1 <nil>
}
