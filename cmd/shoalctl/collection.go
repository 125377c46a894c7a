package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/spf13/cobra"
)

func newCollectionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "collection",
		Aliases: []string{"collections", "col"},
		Short:   "Create, list, describe and drop collections",
	}
	cmd.AddCommand(newCollectionCreateCmd(a), newCollectionListCmd(a), newCollectionDescribeCmd(a), newCollectionDropCmd(a),
		newCollectionControlCmd(a, "seal", "Seal every shard's write buffer into an indexed segment", a.seal),
		newCollectionControlCmd(a, "compact", "Merge every shard's sealed segments and drop deleted documents", a.compact))
	return cmd
}

// specFlags are the flags of `collection create`.
type specFlags struct {
	specFile          string
	shards            int
	replication       int
	sparseMaxTerm     uint32
	denseDim          int
	denseMetric       string
	denseCodec        string
	multivectorDim    int
	multivectorMetric string
	attrs             []string
	// sparse index settings
	sparseKind       string
	targetRecall     float64
	sparseQueryCut   int
	sparseHeapFactor float32
	sparseAutoKeep   float64
	sparseAlpha      float64
}

func newCollectionCreateCmd(a *app) *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a collection from flags or a JSON spec file",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			spec, err := buildSpec(name, f, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return runCreate(cmd.Context(), a.c, a.out, a.output, spec)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.specFile, "spec", "", "JSON file holding an api.CollectionSpec; flags given too override it")
	fl.IntVar(&f.shards, "shards", 0, "number of shards (server default 1)")
	fl.IntVar(&f.replication, "replication", 0, "replicas per shard (server default 3, or the live nodes when fewer)")
	fl.Uint32Var(&f.sparseMaxTerm, "sparse-max-term", 0, "declare a sparse field whose term ids are < this")
	fl.IntVar(&f.denseDim, "dense-dim", 0, "declare a dense field of this dimension")
	fl.StringVar(&f.denseMetric, "dense-metric", "", "dense metric: ip, cosine or l2 (server default cosine)")
	fl.StringVar(&f.denseCodec, "dense-codec", "", "dense storage codec: f32, f16, sq8, sq4, pq, binary, rabitq (server default f32)")
	fl.IntVar(&f.multivectorDim, "multivector-dim", 0, "declare a multi-vector field of this dimension")
	fl.StringVar(&f.multivectorMetric, "multivector-metric", "", "multi-vector metric: ip or cosine (server default ip)")
	fl.StringArrayVar(&f.attrs, "attr", nil, "attribute field NAME=keyword|int|float (repeatable)")
	fl.StringVar(&f.sparseKind, "sparse-kind", "", "sparse index: seismic (server default) or exact")
	fl.Float64Var(&f.targetRecall, "target-recall", 0, "recall@10 that sparse searches aim for, in (0, 1] (server default 0.95)")
	fl.IntVar(&f.sparseQueryCut, "sparse-query-cut", 0, "fixed Seismic query_cut for every search instead of the calibration (default: calibrated)")
	fl.Float32Var(&f.sparseHeapFactor, "sparse-heap-factor", 0, "fixed Seismic heap_factor for every search instead of the calibration (default: calibrated)")
	fl.Float64Var(&f.sparseAutoKeep, "sparse-auto-keep", 0, "fixed share of postings Seismic keeps, in (0, 1] (default: derived per segment)")
	fl.Float64Var(&f.sparseAlpha, "sparse-alpha", 0, "fixed share of a block's mass its Seismic summary keeps, in (0, 1] (default: derived per segment)")
	return cmd
}

// buildSpec makes the collection spec from the spec file, if any, and the
// flags that changed(name) reports as given.
func buildSpec(name string, f specFlags, changed func(string) bool) (api.CollectionSpec, error) {
	var spec api.CollectionSpec
	if f.specFile != "" {
		b, err := os.ReadFile(f.specFile)
		if err != nil {
			return spec, err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return spec, fmt.Errorf("%w: --spec %s: %v", errUsage, f.specFile, err)
		}
	}
	if name != "" {
		spec.Name = name
	}
	if spec.Name == "" {
		return spec, fmt.Errorf("%w: collection create needs a NAME (argument or \"name\" in --spec)", errUsage)
	}
	if changed("shards") {
		spec.Shards = f.shards
	}
	if changed("replication") {
		spec.Replication = f.replication
	}
	if changed("sparse-max-term") {
		if spec.Sparse == nil {
			spec.Sparse = &api.SparseField{}
		}
		spec.Sparse.MaxTerm = f.sparseMaxTerm
	}
	if err := applySparseIndexFlags(&spec, f, changed); err != nil {
		return spec, err
	}
	if changed("dense-dim") || changed("dense-metric") || changed("dense-codec") {
		if spec.Dense == nil {
			spec.Dense = &api.DenseField{}
		}
		if changed("dense-dim") {
			spec.Dense.Dim = f.denseDim
		}
		if changed("dense-metric") {
			spec.Dense.Metric = f.denseMetric
		}
		if changed("dense-codec") {
			spec.Dense.Codec = f.denseCodec
		}
		if spec.Dense.Dim <= 0 {
			return spec, fmt.Errorf("%w: --dense-metric and --dense-codec need --dense-dim", errUsage)
		}
	}
	if changed("multivector-dim") || changed("multivector-metric") {
		if spec.Multivector == nil {
			spec.Multivector = &api.MultivectorField{}
		}
		if changed("multivector-dim") {
			spec.Multivector.Dim = f.multivectorDim
		}
		if changed("multivector-metric") {
			spec.Multivector.Metric = f.multivectorMetric
		}
		if spec.Multivector.Dim <= 0 {
			return spec, fmt.Errorf("%w: --multivector-metric needs --multivector-dim", errUsage)
		}
	}
	for _, kv := range f.attrs {
		k, kind, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return spec, fmt.Errorf("%w: --attr %q: want NAME=keyword|int|float", errUsage, kv)
		}
		switch kind {
		case api.AttrKeyword, api.AttrInt, api.AttrFloat:
		default:
			return spec, fmt.Errorf("%w: --attr %q: kind %q is not keyword, int or float", errUsage, kv, kind)
		}
		if spec.Attributes == nil {
			spec.Attributes = make(map[string]string)
		}
		spec.Attributes[k] = kind
	}
	if spec.Sparse == nil && spec.Dense == nil && spec.Multivector == nil {
		return spec, fmt.Errorf("%w: a collection needs --sparse-max-term, --dense-dim or --multivector-dim (or --spec)", errUsage)
	}
	return spec, nil
}

// applySparseIndexFlags sets the sparse index settings given as flags.
func applySparseIndexFlags(spec *api.CollectionSpec, f specFlags, changed func(string) bool) error {
	names := []string{"sparse-kind", "target-recall", "sparse-query-cut", "sparse-heap-factor", "sparse-auto-keep", "sparse-alpha"}
	set := false
	for _, n := range names {
		set = set || changed(n)
	}
	if !set {
		return nil
	}
	if spec.Sparse == nil {
		return fmt.Errorf("%w: --%s needs a sparse field (--sparse-max-term)", errUsage, names[0])
	}
	if spec.Sparse.Index == nil {
		spec.Sparse.Index = &api.SparseIndex{}
	}
	ix := spec.Sparse.Index
	if changed("sparse-kind") {
		if f.sparseKind != api.SparseKindSeismic && f.sparseKind != api.SparseKindExact {
			return fmt.Errorf("%w: --sparse-kind %q: want seismic or exact", errUsage, f.sparseKind)
		}
		ix.Kind = f.sparseKind
	}
	if changed("target-recall") {
		if !(f.targetRecall > 0 && f.targetRecall <= 1) {
			return fmt.Errorf("%w: --target-recall %v: want a recall in (0, 1]", errUsage, f.targetRecall)
		}
		ix.TargetRecall = f.targetRecall
	}
	if changed("sparse-query-cut") {
		ix.QueryCut = f.sparseQueryCut
	}
	if changed("sparse-heap-factor") {
		ix.HeapFactor = f.sparseHeapFactor
	}
	if changed("sparse-auto-keep") {
		ix.AutoKeep = f.sparseAutoKeep
	}
	if changed("sparse-alpha") {
		ix.Alpha = f.sparseAlpha
	}
	return nil
}

func runCreate(ctx context.Context, c *client.Client, w io.Writer, format string, spec api.CollectionSpec) error {
	col, err := c.CreateCollection(ctx, spec)
	if err != nil {
		return err
	}
	if format == outputJSON {
		return emitJSON(w, col)
	}
	fmt.Fprintf(w, "created collection %s\n", col.Name)
	return writeCollection(w, col)
}

func newCollectionListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List collections",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), a.c, a.out, a.output)
		},
	}
}

func runList(ctx context.Context, c *client.Client, w io.Writer, format string) error {
	cols, err := c.ListCollections(ctx)
	if err != nil {
		return err
	}
	if format == outputJSON {
		return emitJSON(w, api.CollectionList{Collections: cols})
	}
	if len(cols) == 0 {
		fmt.Fprintln(w, "no collections")
		return nil
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSHARDS\tREPLICATION\tSPARSE\tDENSE\tMULTIVECTOR\tATTRIBUTES")
	for _, col := range cols {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", col.Name, col.Shards, col.Replication,
			sparseText(col.Sparse), denseText(col.Dense), multivectorText(col.Multivector), attrsText(col.Attributes))
	}
	return tw.Flush()
}

func newCollectionDescribeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a collection's schema and shard placement",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			col, err := a.c.GetCollection(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, col)
			}
			return writeCollection(a.out, col)
		},
	}
}

func (a *app) seal(ctx context.Context, name string) (*api.Collection, error) {
	return a.c.Seal(ctx, name)
}

func (a *app) compact(ctx context.Context, name string) (*api.Collection, error) {
	return a.c.Compact(ctx, name)
}

// newCollectionControlCmd builds `collection seal|compact NAME`, which run
// op and print the collection with its segments.
func newCollectionControlCmd(a *app, use, short string, op func(context.Context, string) (*api.Collection, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			col, err := op(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, col)
			}
			return writeCollection(a.out, col)
		},
	}
}

func newCollectionDropCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "drop NAME",
		Short: "Delete a collection and all its documents",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.c.DropCollection(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, map[string]string{"dropped": args[0]})
			}
			fmt.Fprintf(a.out, "dropped collection %s\n", args[0])
			return nil
		},
	}
}

// writeCollection prints a schema and its placement as text.
func writeCollection(w io.Writer, col *api.Collection) error {
	tw := table(w)
	fmt.Fprintf(tw, "name:\t%s\n", col.Name)
	fmt.Fprintf(tw, "shards:\t%d\n", col.Shards)
	fmt.Fprintf(tw, "replication:\t%d\n", col.Replication)
	fmt.Fprintf(tw, "sparse:\t%s\n", sparseText(col.Sparse))
	fmt.Fprintf(tw, "dense:\t%s\n", denseText(col.Dense))
	fmt.Fprintf(tw, "multivector:\t%s\n", multivectorText(col.Multivector))
	fmt.Fprintf(tw, "attributes:\t%s\n", attrsText(col.Attributes))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(col.Placement) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "SHARD\tLEADER\tREPLICAS\tSEGMENTS")
	for _, p := range col.Placement {
		leader := p.Leader
		if leader == "" {
			leader = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", p.Shard, leader, strings.Join(p.Replicas, ","), segmentsText(p.Segments))
	}
	return tw.Flush()
}

// segmentsText summarizes a shard's write buffer and segments as
// "STATE:DOCS" items, with "-DELETED" when some are deleted, and for a
// calibrated Seismic segment its expected recall, "@R" (then "exact" when the
// target is served by exact scoring).
func segmentsText(segs []api.Segment) string {
	if len(segs) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(segs))
	for _, s := range segs {
		p := fmt.Sprintf("%s:%d", s.State, s.Docs)
		if s.Deleted > 0 {
			p += fmt.Sprintf("-%d", s.Deleted)
		}
		if c := s.Sparse; c != nil && c.Calibrated {
			p += fmt.Sprintf("@%.3f", c.ExpectedRecall)
			if c.Exact {
				p += "exact"
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func sparseText(f *api.SparseField) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("max_term=%d", f.MaxTerm)
}

func denseText(f *api.DenseField) string {
	if f == nil {
		return "-"
	}
	s := fmt.Sprintf("dim=%d", f.Dim)
	if f.Metric != "" {
		s += " metric=" + f.Metric
	}
	if f.Codec != "" {
		s += " codec=" + f.Codec
	}
	return s
}

func multivectorText(f *api.MultivectorField) string {
	if f == nil {
		return "-"
	}
	s := fmt.Sprintf("dim=%d", f.Dim)
	if f.Metric != "" {
		s += " metric=" + f.Metric
	}
	return s
}

func attrsText(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}
