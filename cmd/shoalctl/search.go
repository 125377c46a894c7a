package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/spf13/cobra"
)

// searchFlags are the flags of `search`.
type searchFlags struct {
	collection  string
	sparse      string
	dense       string
	queryFile   string
	k           int
	filters     []string
	consistency string
	params      api.SearchParams
}

func newSearchCmd(a *app) *cobra.Command {
	var f searchFlags
	cmd := &cobra.Command{
		Use:   "search --collection C (--sparse ... | --dense ... | --query FILE.json)",
		Short: "Search a collection and print rank, id and score",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := buildSearch(f, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return runSearch(cmd.Context(), a.c, a.out, a.output, f.collection, req)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.collection, "collection", "c", "", "collection to search (required)")
	fl.StringVar(&f.sparse, "sparse", "", `sparse query "TERM:WEIGHT,..." such as "3:0.4,17:1.3"`)
	fl.StringVar(&f.dense, "dense", "", `dense query "x1,x2,..."`)
	fl.StringVar(&f.queryFile, "query", "", "JSON file holding an api.SearchRequest; flags given too override it")
	fl.IntVarP(&f.k, "k", "k", 10, "number of hits")
	fl.StringArrayVar(&f.filters, "filter", nil, `attribute filter KEY=VALUE (repeatable, all must match); VALUE may be JSON such as [1,2] or {"gte":2000}`)
	fl.StringVar(&f.consistency, "consistency", "", "eventual, strong, or a write token (read your writes)")
	fl.IntVar(&f.params.QueryCut, "query-cut", 0, "Seismic: largest sparse query components walked (server default: calibrated per segment)")
	fl.Float32Var(&f.params.HeapFactor, "heap-factor", 0, "Seismic: skip blocks whose summary score is below this × the k-th best (server default: calibrated per segment)")
	fl.Float64Var(&f.params.TargetRecall, "target-recall", 0, "Seismic: recall@10 to aim for, in (0, 1] (server default: the collection's, 0.95)")
	fl.IntVar(&f.params.NProbe, "nprobe", 0, "dense: IVF lists scanned (server default per codec)")
	fl.IntVar(&f.params.Oversample, "oversample", 0, "dense: k multiplier of candidates rescored at full precision")
	fl.IntVar(&f.params.Candidates, "candidates", 0, "multi-vector: candidates reranked by exact MaxSim (server default 10·k)")
	fl.BoolVar(&f.params.Exact, "exact", false, "score every document exactly, ignoring the indexes")
	_ = cmd.MarkFlagRequired("collection")
	return cmd
}

// buildSearch makes the request from the query file, if any, and the flags
// that changed(name) reports as given.
func buildSearch(f searchFlags, changed func(string) bool) (api.SearchRequest, error) {
	var req api.SearchRequest
	if f.queryFile != "" {
		b, err := os.ReadFile(f.queryFile)
		if err != nil {
			return req, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("%w: --query %s: %v", errUsage, f.queryFile, err)
		}
	}
	if changed("k") || req.K == 0 {
		req.K = f.k
	}
	if f.sparse != "" {
		v, err := parseSparse(f.sparse)
		if err != nil {
			return req, fmt.Errorf("%w: --sparse: %v", errUsage, err)
		}
		req.Sparse = v
	}
	if f.dense != "" {
		v, err := parseFloats(f.dense)
		if err != nil {
			return req, fmt.Errorf("%w: --dense: %v", errUsage, err)
		}
		req.Dense = v
	}
	for _, kv := range f.filters {
		k, v, err := parseFilter(kv)
		if err != nil {
			return req, fmt.Errorf("%w: --filter %q: %v", errUsage, kv, err)
		}
		if req.Filter == nil {
			req.Filter = make(map[string]any)
		}
		req.Filter[k] = v
	}
	if f.consistency != "" {
		req.Consistency = parseConsistency(f.consistency)
	}
	for _, name := range []string{"query-cut", "heap-factor", "target-recall", "nprobe", "oversample", "candidates", "exact"} {
		if !changed(name) {
			continue
		}
		if req.Params == nil {
			req.Params = &api.SearchParams{}
		}
		switch name {
		case "query-cut":
			req.Params.QueryCut = f.params.QueryCut
		case "heap-factor":
			req.Params.HeapFactor = f.params.HeapFactor
		case "target-recall":
			req.Params.TargetRecall = f.params.TargetRecall
		case "nprobe":
			req.Params.NProbe = f.params.NProbe
		case "oversample":
			req.Params.Oversample = f.params.Oversample
		case "candidates":
			req.Params.Candidates = f.params.Candidates
		case "exact":
			req.Params.Exact = f.params.Exact
		}
	}
	if req.Sparse == nil && req.Dense == nil && req.Multivector == nil {
		return req, fmt.Errorf("%w: search needs --sparse, --dense or --query", errUsage)
	}
	return req, nil
}

// parseSparse reads "3:0.4,17:1.3" into a vector with ascending term ids.
func parseSparse(s string) (*api.SparseVector, error) {
	type entry struct {
		term uint32
		w    float32
	}
	var es []entry
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, w, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%q: want TERM:WEIGHT", part)
		}
		term, err := strconv.ParseUint(strings.TrimSpace(t), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: term id: %v", part, err)
		}
		weight, err := parseFloat(strings.TrimSpace(w))
		if err != nil {
			return nil, fmt.Errorf("%q: weight: %v", part, err)
		}
		es = append(es, entry{uint32(term), weight})
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("no terms")
	}
	sort.Slice(es, func(i, j int) bool { return es[i].term < es[j].term })
	v := &api.SparseVector{Indices: make([]uint32, len(es)), Values: make([]float32, len(es))}
	for i, e := range es {
		if i > 0 && e.term == es[i-1].term {
			return nil, fmt.Errorf("term %d given twice", e.term)
		}
		v.Indices[i], v.Values[i] = e.term, e.w
	}
	return v, nil
}

// parseFloats reads "0.1,0.2,..." into a vector of finite values.
func parseFloats(s string) ([]float32, error) {
	var out []float32
	for i, part := range strings.Split(s, ",") {
		x, err := parseFloat(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("value %d: %v", i, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func parseFloat(s string) (float32, error) {
	x, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s is not finite", s)
	}
	return float32(x), nil
}

// parseFilter reads KEY=VALUE. VALUE is JSON when it parses as JSON (a
// number, a list, a range object, a quoted string, true/false) and a plain
// string otherwise.
func parseFilter(kv string) (string, any, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", nil, fmt.Errorf("want KEY=VALUE")
	}
	var x any
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err == nil && !dec.More() && x != nil {
		return k, x, nil
	}
	return k, v, nil
}

// parseConsistency reads eventual, strong, or else a write token.
func parseConsistency(s string) *api.Consistency {
	switch s {
	case api.ConsistencyEventual, api.ConsistencyStrong:
		return &api.Consistency{Level: s}
	}
	return &api.Consistency{Token: s}
}

func runSearch(ctx context.Context, c *client.Client, w io.Writer, format, collection string, req api.SearchRequest) error {
	res, err := c.Search(ctx, collection, req)
	if err != nil {
		return err
	}
	if format == outputJSON {
		return emitJSON(w, res)
	}
	tw := table(w)
	fmt.Fprintln(tw, "RANK\tID\tSCORE")
	for i, h := range res.Hits {
		fmt.Fprintf(tw, "%d\t%s\t%.4f\n", i+1, h.ID, h.Score)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Coverage.Answered < res.Coverage.Shards {
		fmt.Fprintf(w, "partial: %d of %d shards answered\n", res.Coverage.Answered, res.Coverage.Shards)
	}
	return nil
}
