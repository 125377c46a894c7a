package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show health, nodes, and every shard replica's raft role and applied index",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), a.c, a.out, a.output)
		},
	}
}

// statusReport is the JSON form of `shoalctl status`.
type statusReport struct {
	Health  string             `json:"health"`
	Cluster *api.ClusterStatus `json:"cluster"`
}

// runStatus prints health and cluster state. An unhealthy cluster is shown,
// not treated as an error; a cluster that cannot be reached is an error.
func runStatus(ctx context.Context, c *client.Client, w io.Writer, format string) error {
	rep := statusReport{Health: "ok"}
	if _, err := c.Health(ctx); err != nil {
		var e *client.Error
		if !errors.As(err, &e) {
			return err
		}
		rep.Health = "unavailable: " + e.Message
	}
	st, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	rep.Cluster = st
	if format == outputJSON {
		return emitJSON(w, rep)
	}
	fmt.Fprintf(w, "health: %s\n\n", rep.Health)
	tw := table(w)
	fmt.Fprintln(tw, "NODE\tRAFT ADDR\tALIVE")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%t\n", n.ID, n.RaftAddr, n.Alive)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(st.Shards) == 0 {
		fmt.Fprintln(w, "no shards")
		return nil
	}
	tw = table(w)
	fmt.Fprintln(tw, "COLLECTION\tSHARD\tREPLICA\tROLE\tTERM\tAPPLIED\tLAST\tDOCS\tSEGMENTS\tERROR")
	for _, s := range st.Shards {
		for _, r := range s.Replicas {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Collection, s.Shard, r.Node, r.Role, r.Term, r.AppliedIndex, r.LastIndex, r.Documents, segmentsText(r.Segments), oneLine(r.Error))
		}
	}
	return tw.Flush()
}

// oneLine keeps a message on one table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
