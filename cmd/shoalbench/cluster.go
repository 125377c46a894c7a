package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newClusterCmd is a placeholder until the cluster benchmark lands.
func newClusterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cluster",
		Short: "cluster benchmark (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("cluster benchmark is not built yet")
		},
	}
}
