package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/shoal-search/shoal/client"
	"github.com/spf13/cobra"
)

// Defaults of the global flags.
const (
	defaultAddr    = "http://127.0.0.1:7700"
	defaultTimeout = 30 * time.Second
	addrEnv        = "SHOAL_ADDR"
	apiKeyEnv      = "SHOAL_API_KEY"
)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// errUsage reports a bad flag or argument value.
var errUsage = errors.New("shoalctl: usage")

// app is what every command shares: the global flags, the writers and the
// SDK client built from them.
type app struct {
	addr    string
	apiKey  string
	timeout time.Duration
	output  string
	out     io.Writer
	errOut  io.Writer
	c       *client.Client
	// stderrTTY says whether errOut is a terminal, so progress can redraw.
	stderrTTY bool
}

// newRootCmd builds the command tree writing to stdout and stderr; getenv
// reads the environment (os.Getenv, or a map in tests).
func newRootCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{out: stdout, errOut: stderr, stderrTTY: isTerminal(stderr)}
	root := &cobra.Command{
		Use:           "shoalctl",
		Short:         "Administer and query a shoal cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != outputTable && a.output != outputJSON {
				return fmt.Errorf("%w: -o %q: want table or json", errUsage, a.output)
			}
			if a.apiKey == "" {
				a.apiKey = getenv(apiKeyEnv)
			}
			c, err := client.New(a.addr, client.WithTimeout(a.timeout), client.WithAPIKey(a.apiKey))
			if err != nil {
				return err
			}
			a.c = c
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	addr := defaultAddr
	if v := getenv(addrEnv); v != "" {
		addr = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", addr, "coordinator URL (env "+addrEnv+")")
	pf.StringVar(&a.apiKey, "api-key", "", "API key sent as Authorization: Bearer (env "+apiKeyEnv+"; needed when the cluster runs with --auth)")
	pf.DurationVar(&a.timeout, "timeout", defaultTimeout, "bound on each request, retries included (0: none)")
	pf.StringVarP(&a.output, "output", "o", outputTable, "output format: table or json")
	root.AddCommand(
		newStatusCmd(a),
		newCollectionCmd(a),
		newLoadCmd(a),
		newSearchCmd(a),
		newGetCmd(a),
		newDeleteCmd(a),
		newKeyCmd(a),
	)
	return root
}

// emitJSON writes v as indented JSON.
func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tab writer for aligned columns; Flush it when done.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}
