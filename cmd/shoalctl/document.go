package main

import (
	"fmt"

	"github.com/shoal-search/shoal/client"

	"github.com/spf13/cobra"
)

func newGetCmd(a *app) *cobra.Command {
	var collection, consistency string
	cmd := &cobra.Command{
		Use:   "get --collection C ID",
		Short: "Print one document as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.GetOption
			if consistency != "" {
				opts = append(opts, client.ReadConsistency(*parseConsistency(consistency)))
			}
			d, err := a.c.Get(cmd.Context(), collection, args[0], opts...)
			if err != nil {
				return err
			}
			return emitJSON(a.out, d)
		},
	}
	cmd.Flags().StringVarP(&collection, "collection", "c", "", "collection (required)")
	cmd.Flags().StringVar(&consistency, "consistency", "", "eventual, strong, or a write token (read your writes)")
	_ = cmd.MarkFlagRequired("collection")
	return cmd
}

func newDeleteCmd(a *app) *cobra.Command {
	var collection string
	cmd := &cobra.Command{
		Use:   "delete --collection C ID",
		Short: "Delete one document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.c.Delete(cmd.Context(), collection, args[0])
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, res)
			}
			fmt.Fprintf(a.out, "deleted %d (token %s)\n", res.Deleted, res.Token)
			return nil
		},
	}
	cmd.Flags().StringVarP(&collection, "collection", "c", "", "collection (required)")
	_ = cmd.MarkFlagRequired("collection")
	return cmd
}
