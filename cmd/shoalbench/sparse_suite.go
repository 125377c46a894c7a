package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
)

// sciFactName is the suite's name for SciFact with BM25 vectors.
const sciFactName = "scifact-bm25"

// runSparseSuite runs every distribution of dataset.SparseSuite() at
// --suite-size documents, then SciFact BM25 when its folder is present,
// one data set at a time, each as a plain run would (baselines,
// seismic-default, sweep). --suite-filter selects data sets by name.
func runSparseSuite(out io.Writer, f sparseFlags, qcs []int, hfs []float64) error {
	var filter *regexp.Regexp
	if f.suiteFilter != "" {
		var err error
		if filter, err = regexp.Compile(f.suiteFilter); err != nil {
			return fmt.Errorf("--suite-filter: %w", err)
		}
	}
	if f.suiteSize < 1 {
		return fmt.Errorf("--suite-size %d: want at least 1", f.suiteSize)
	}
	ran := 0
	for _, spec := range dataset.SparseSuite() {
		if filter != nil && !filter.MatchString(spec.Name) {
			continue
		}
		t0 := time.Now()
		docs, queries, err := spec.Generate(f.suiteSize, f.nq, f.seed)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		fmt.Fprintf(os.Stderr, "%s: generated %d docs, %d queries in %v\n", spec.Name, docs.Len(), queries.Len(), time.Since(t0).Round(time.Millisecond))
		ds := sparseDataset{name: spec.Name, source: fmt.Sprintf("suite:%s seed %d", spec.Name, f.seed), docs: docs, queries: queries}
		if err := runSparseOn(out, f, ds, qcs, hfs); err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		ran++
		runtime.GC()
	}
	if filter == nil || filter.MatchString(sciFactName) {
		ds, err := readSciFactBM25(f.scifact)
		switch {
		case err != nil:
			return err
		case ds == nil:
			fmt.Fprintf(os.Stderr, "%s: skipped, no data at %q\n", sciFactName, f.scifact)
		default:
			if err := runSparseOn(out, f, *ds, qcs, hfs); err != nil {
				return fmt.Errorf("%s: %w", sciFactName, err)
			}
			ran++
		}
	}
	if ran == 0 {
		return fmt.Errorf("--suite-filter %q matches no data set", f.suiteFilter)
	}
	return nil
}

// readSciFactBM25 reads SciFact's BM25 documents, queries and qrels from
// dir, or returns nil when dir is empty or has no BM25 documents.
func readSciFactBM25(dir string) (*sparseDataset, error) {
	if dir == "" {
		return nil, nil
	}
	docsPath := filepath.Join(dir, "sparse-bm25", "docs.jsonl.gz")
	if _, err := os.Stat(docsPath); err != nil {
		return nil, nil
	}
	ds := &sparseDataset{name: sciFactName, source: docsPath}
	var err error
	if ds.docs, err = dataset.ReadSparseJSONL(docsPath); err != nil {
		return nil, err
	}
	if ds.queries, err = dataset.ReadSparseJSONL(filepath.Join(dir, "sparse-bm25", "queries.jsonl")); err != nil {
		return nil, err
	}
	if ds.qrels, err = eval.ReadQrels(filepath.Join(dir, "qrels.tsv")); err != nil {
		return nil, err
	}
	return ds, nil
}
