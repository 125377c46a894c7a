package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSparseCmd is a placeholder until the sparse benchmark lands.
func newSparseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sparse",
		Short: "sparse benchmark (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("sparse benchmark is not built yet")
		},
	}
}
