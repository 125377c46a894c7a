package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newMultivecCmd is a placeholder until the multivec benchmark lands.
func newMultivecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "multivec",
		Short: "multivec benchmark (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("multivec benchmark is not built yet")
		},
	}
}
