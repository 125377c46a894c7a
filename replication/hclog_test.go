package replication

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogBridge(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")
	l.Debug("hidden")
	l.With("peer", "n2").Named("transport").Warn("dial failed", "err", "refused")
	l.StandardLogger(nil).Print("from std")
	out := buf.String()
	for _, want := range []string{`level=WARN msg="raft.transport: dial failed" peer=n2 err=refused`, `msg="raft: from std"`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("debug line logged at info level:\n%s", out)
	}
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: debug=%v info=%v level=%v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	if got := l.ResetNamed("x").Name(); got != "x" {
		t.Errorf("ResetNamed: got %q", got)
	}
}
