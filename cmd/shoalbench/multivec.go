package main

import (
	"github.com/spf13/cobra"
)

// newMultivecCmd returns the multivec subcommand: clustered MaxSim (CRISP),
// MUVERA FDE candidates and centroid-IVF candidates on SciFact GloVe
// multi-vectors, and optionally a synthetic topical corpus.
func newMultivecCmd() *cobra.Command {
	o := defaultMultivecOpts()
	cmd := &cobra.Command{
		Use:   "multivec",
		Short: "clustered multi-vectors, MUVERA and centroid candidates vs exhaustive MaxSim",
		Long: `multivec prints one JSON line per configuration:
{"bench":"multivec","index":"maxsim-full"|"crisp-k8"|"crisp-r25"|"ward-p2"|"dedup"|"ward-d60"|"muvera"|"centroid-ivf",...}
recall is against the exact full-MaxSim top-10; ndcg10 is against the qrels (SciFact only).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMultivec(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.data, "data", o.data, "SciFact folder (with multivec-glove/ and ../glove/); empty skips SciFact")
	f.IntVar(&o.queries, "queries", o.queries, "cap on SciFact queries (0 = all 300)")
	f.StringVar(&o.only, "only", o.only, "comma list of parts to run: full,cluster,muvera,centroid,kernel,synth (empty = all but synth)")
	f.StringVar(&o.codec, "codec", o.codec, "storage codec of document vectors: f32, f16, sq8")
	f.IntVar(&o.ksim, "ksim", o.ksim, "MUVERA SimHash bits per repetition")
	f.IntVar(&o.dproj, "dproj", o.dproj, "MUVERA inner projection dimension (0 = none)")
	f.IntVar(&o.reps, "reps", o.reps, "MUVERA repetitions")
	f.IntVar(&o.finalDim, "final-dim", o.finalDim, "MUVERA final projection dimension (0 = none)")
	f.StringVar(&o.fdeCodec, "fde-codec", o.fdeCodec, "embtable codec of the FDE table")
	f.StringVar(&o.rerank, "rerank", o.rerank, "comma list of candidate counts for muvera/centroid-ivf")
	f.IntVar(&o.synthDocs, "synth-docs", o.synthDocs, "synthetic corpus size (part synth; generated twice, never held as float32: use --codec sq8 or f16 at 100k)")
	f.IntVar(&o.synthQueries, "synth-queries", o.synthQueries, "synthetic queries (each costs one exhaustive MaxSim over the corpus, ~5 s at 100k)")
	f.StringVar(&o.truthCache, "truth-cache", o.truthCache, "file caching the exhaustive top-10 and latencies between runs (empty = none)")
	f.IntVar(&o.fdePQM, "fde-pqm", o.fdePQM, "PQ subspaces of the FDE table (codec pq; 0 = dim/4)")
	f.IntVar(&o.fdeOversample, "fde-oversample", o.fdeOversample, "FDE candidates taken from codes = oversample·rerank, rescored from an f32 copy (≤1 = no rescoring copy)")
	f.IntVar(&o.fdeNList, "fde-nlist", o.fdeNList, "IVF lists of the FDE table (0 = flat)")
	f.IntVar(&o.fdeNProbe, "fde-nprobe", o.fdeNProbe, "IVF lists probed in the FDE table")
	f.IntVar(&o.fdeIters, "fde-iters", o.fdeIters, "k-means iterations of the FDE table's PQ/IVF training (0 = embtable default)")
	f.StringVar(&o.settings, "settings", o.settings, "comma list of clustering settings to run (empty = all), e.g. crisp-k8,ward-p3")
	f.IntVar(&o.workers, "workers", o.workers, "build workers (0 = GOMAXPROCS)")
	f.StringVar(&o.fdeRescore, "fde-rescore", o.fdeRescore, "precision of the FDE table's rescoring copy when fde-oversample > 1: f32 or f16")
	return cmd
}
