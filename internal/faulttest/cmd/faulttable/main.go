// Command faulttable runs the fault suite (internal/faulttest) and writes
// its results table into docs/reliability.md, between the markers
// "<!-- faulttable:begin -->" and "<!-- faulttable:end -->".
//
//	go run ./internal/faulttest/cmd/faulttable                 # run the suite, rewrite the table
//	go run ./internal/faulttest/cmd/faulttable -from r.jsonl   # only render results already recorded
//
// The suite runs as `go test -count=1 -p 1 -run TestFaults ./internal/faulttest`
// with SHOAL_FAULT=1 and SHOAL_FAULT_RESULTS set to a temporary file, which
// receives one JSON line per scenario (faulttest.Result). Run it from the
// repository root.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-search/shoal/internal/faulttest"
)

const (
	begin = "<!-- faulttable:begin -->"
	end   = "<!-- faulttable:end -->"
)

func main() {
	from := flag.String("from", "", "render this results file (JSON lines) instead of running the suite")
	out := flag.String("out", "docs/reliability.md", "Markdown file whose table to rewrite")
	run := flag.String("run", "TestFaults", "-run pattern for go test")
	keep := flag.String("keep", "", "also copy the results file here")
	flag.Parse()
	if err := main1(*from, *out, *run, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "faulttable:", err)
		os.Exit(1)
	}
}

func main1(from, out, run, keep string) error {
	path := from
	var elapsed time.Duration
	var branch string
	if path == "" {
		dir, err := os.MkdirTemp("", "faulttable-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "results.jsonl")
		cmd := exec.Command("go", "test", "-count=1", "-p", "1", "-run", run, "-timeout", "15m", "./internal/faulttest")
		cmd.Env = append(os.Environ(), "SHOAL_FAULT=1", "SHOAL_FAULT_RESULTS="+path)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		start := time.Now()
		// a failing scenario fails go test; the table records it
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "faulttable: go test:", err)
		}
		elapsed = time.Since(start)
		if b, err := exec.Command("git", "rev-parse", "--abbrev-ref", "HEAD").Output(); err == nil {
			branch = strings.TrimSpace(string(b))
		}
	}
	results, err := faulttest.ReadResults(path)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("%s: no results", path)
	}
	if keep != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(keep, raw, 0o644); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString(begin + "\n")
	pass := 0
	for _, r := range results {
		if r.Pass {
			pass++
		}
	}
	commit := results[0].Commit
	fmt.Fprintf(&b, "Generated %s from commit %s", time.Now().UTC().Format("2006-01-02 15:04 MST"), commit)
	if branch != "" {
		fmt.Fprintf(&b, " (branch %s)", branch)
	}
	fmt.Fprintf(&b, ": %d of %d scenarios pass", pass, len(results))
	if elapsed > 0 {
		fmt.Fprintf(&b, "; the suite took %s", elapsed.Round(time.Second))
	}
	b.WriteString(".\n\n")
	b.WriteString(faulttest.Table(results))
	if f := faulttest.Failures(results); f != "" {
		b.WriteString("\nFailed checks:\n\n")
		b.WriteString(f)
	}
	b.WriteString(end + "\n")
	doc, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("%s: %w (create it with the markers %s and %s)", out, err, begin, end)
	}
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s markers", out, begin, end)
	}
	var nd []byte
	nd = append(nd, doc[:i]...)
	nd = append(nd, b.String()...)
	k := j + len(end)
	if k < len(doc) && doc[k] == '\n' {
		k++
	}
	nd = append(nd, doc[k:]...)
	if err := os.WriteFile(out, nd, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "faulttable: %s: %d of %d scenarios pass\n", out, pass, len(results))
	return nil
}
