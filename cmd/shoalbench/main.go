// Command shoalbench runs shoal's benchmarks and prints one JSON object per
// configuration, one per line, so that runs can be compared and archived.
//
//	go run ./cmd/shoalbench sparse --docs 1000000
//	go run ./cmd/shoalbench dense --data ../shared/data/glove
//	go run ./cmd/shoalbench multivec --data ../shared/data/scifact
//	go run ./cmd/shoalbench cluster --docs 100000
//	go run ./cmd/shoalbench auth --docs 20000
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "shoalbench",
		Short:         "shoal benchmarks; each run prints JSON lines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newSparseCmd(), newDenseCmd(), newMultivecCmd(), newClusterCmd(), newAuthCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shoalbench:", err)
		os.Exit(1)
	}
}

// emit writes v as one line of JSON.
func emit(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
