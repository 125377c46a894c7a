package main

import (
	"github.com/spf13/cobra"
)

// newDenseCmd returns the "dense" subcommand: it builds compressed embedding
// tables (shard/embtable) under several codecs and IVF settings and prints
// one JSON line per configuration with its memory, recall@k against exact
// f32 search, latency and build time.
func newDenseCmd() *cobra.Command {
	o := defaultDenseOpts()
	cmd := &cobra.Command{
		Use:   "dense",
		Short: "compressed embedding tables: memory, recall@10, latency per codec",
		Long: `dense builds shard/embtable tables (f32, f16, SQ8, SQ4, PQ, binary, RaBitQ; flat
and IVF) and prints one JSON object per configuration and search setting:
bytes_per_vector, compression (4·dim / resident bytes), recall@k against exact
f32 top-k, p50/p99 latency, qps and build time. The rescoring copy is saved
to disk and mapped back, so it is not counted as resident.

--data takes a folder with glove100k_base.fvecs (GloVe-100, angular) or the
ann folder (bigann10k, fmnist1k); without it the set is synthetic
(clustered, anisotropic, --n × --dim).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDense(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.data, "data", o.data, "folder of a real set (glove or ann); empty means synthetic")
	f.StringVar(&o.set, "set", o.set, "set in --data: glove, bigann10k or fmnist1k (default: by files present)")
	f.IntVar(&o.n, "n", o.n, "synthetic: number of base vectors")
	f.IntVar(&o.dim, "dim", o.dim, "synthetic: dimension")
	f.IntVar(&o.queries, "queries", o.queries, "number of queries (0: 1000 for real sets, 200 for synthetic)")
	f.IntVar(&o.k, "k", o.k, "results per query (recall@k)")
	f.StringVar(&o.only, "only", o.only, "comma-separated index names to run (e.g. ivf-pq,flat-rabitq); empty runs all")
	f.StringVar(&o.tmp, "tmp", o.tmp, "folder for the saved tables (default: a temporary folder)")
	f.Uint64Var(&o.seed, "seed", o.seed, "seed for builds and the synthetic set")
	f.BoolVar(&o.quick, "quick", o.quick, "fewer configurations and search settings")
	return cmd
}
