package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDenseCmd is a placeholder until the dense benchmark lands.
func newDenseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dense",
		Short: "dense benchmark (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("dense benchmark is not built yet")
		},
	}
}
