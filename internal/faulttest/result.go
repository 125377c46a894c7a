package faulttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Result is one scenario's outcome, one JSON line in the results file.
type Result struct {
	Scenario string `json:"scenario"`
	// Fault describes what the scenario does.
	Fault string `json:"fault"`
	// Needs names the branch whose fixes the scenario needs, when known to
	// fail without them.
	Needs  string `json:"needs,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
	Pass   bool   `json:"pass"`
	Counts Counts `json:"counts"`
	// Lost is the number of acknowledged writes lost.
	Lost int `json:"lost"`
	// Linearizable is porcupine's verdict on strong reads and writes: Ok,
	// Illegal or Unknown (timed out).
	Linearizable string `json:"linearizable"`
	// BadEventual is the number of eventual reads of never-written values.
	BadEventual int `json:"bad_eventual"`
	// Search and Replicas are "ok" or the first difference.
	Search   string `json:"search"`
	Replicas string `json:"replicas"`
	// Failures lists every failed check, scenario-specific ones included.
	Failures []string `json:"failures,omitempty"`
	// SlowestWrite is the longest acknowledged write, in seconds.
	SlowestWrite float64 `json:"slowest_write"`
	Seconds      float64 `json:"seconds"`
	Commit       string  `json:"commit,omitempty"`
}

// AppendResult appends r as a JSON line to the file at path.
func AppendResult(path string, r Result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadResults reads a results file; for a scenario listed more than once the
// last line wins.
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	last := map[string]int{}
	var out []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if i, ok := last[r.Scenario]; ok {
			out[i] = r
			continue
		}
		last[r.Scenario] = len(out)
		out = append(out, r)
	}
	return out, sc.Err()
}

// Table renders results as a Markdown table, in the order given.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| scenario | fault | result | writes acked / unknown / failed | strong / eventual reads | lost acked | linearizable | eventual reads | search = exact | replicas identical | slowest acked write | seconds | fix needed from |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		res := "**pass**"
		if !r.Pass {
			res = "**FAIL**"
		}
		ev := "ok"
		if r.BadEventual > 0 {
			ev = fmt.Sprintf("%d bad", r.BadEventual)
		}
		needs := r.Needs
		if r.Pass && needs != "" {
			needs = "(passes without " + needs + ")"
		}
		fault := r.Fault
		if r.Seed != 0 {
			fault += fmt.Sprintf(" (seed %d)", r.Seed)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d / %d / %d | %d / %d | %d | %s | %s | %s | %s | %.1f s | %.0f | %s |\n",
			r.Scenario, cell(fault), res, r.Counts.WritesAcked, r.Counts.WritesUnknown, r.Counts.WritesFailed,
			r.Counts.StrongReads, r.Counts.EventualReads, r.Lost, r.Linearizable, ev, cell(r.Search), cell(r.Replicas), r.SlowestWrite, r.Seconds, needs)
	}
	return b.String()
}

// Failures renders every failed scenario's failures as a Markdown list.
func Failures(results []Result) string {
	var b strings.Builder
	sorted := append([]Result(nil), results...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Scenario < sorted[j].Scenario })
	for _, r := range sorted {
		if r.Pass {
			continue
		}
		fmt.Fprintf(&b, "- **%s**", r.Scenario)
		if r.Needs != "" {
			fmt.Fprintf(&b, " (needs %s)", r.Needs)
		}
		b.WriteString(":\n")
		for i, f := range r.Failures {
			if i == 8 {
				fmt.Fprintf(&b, "  - … and %d more\n", len(r.Failures)-i)
				break
			}
			fmt.Fprintf(&b, "  - %s\n", cell(f))
		}
	}
	return b.String()
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
