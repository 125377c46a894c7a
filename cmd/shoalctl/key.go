package main

import (
	"fmt"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/spf13/cobra"
)

func newKeyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "key",
		Aliases: []string{"keys"},
		Short:   "Create, list and delete API keys (needs an admin key when auth is on)",
	}
	cmd.AddCommand(newKeyCreateCmd(a), newKeyListCmd(a), newKeyDeleteCmd(a))
	return cmd
}

func newKeyCreateCmd(a *app) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API key and print it (it is shown only once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := a.c.CreateKey(cmd.Context(), args[0], role)
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, k)
			}
			fmt.Fprintln(a.out, k.Key)
			fmt.Fprintf(a.errOut, "created API key %s with role %s; store it now, it is not shown again\n", k.Name, k.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", api.RoleRead, "role of the key: read, write or admin")
	return cmd
}

func newKeyListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List API keys (names, roles and creation times, never the keys)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := a.c.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, api.KeyList{Keys: keys})
			}
			if len(keys) == 0 {
				fmt.Fprintln(a.out, "no API keys")
				return nil
			}
			tw := table(a.out)
			fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Role, k.Created.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}

func newKeyDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API key; calls with it fail with 401 from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.c.DeleteKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.output == outputJSON {
				return emitJSON(a.out, map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(a.out, "deleted API key %s\n", args[0])
			return nil
		},
	}
}
