// Command shoalctl is the admin CLI of a shoal cluster, a thin layer over the
// Go SDK in package client. It talks to a coordinator's HTTP API (--addr,
// default http://127.0.0.1:7700 or $SHOAL_ADDR).
//
//	shoalctl status
//	shoalctl collection create quickstart --shards 2 --replication 3 --sparse-max-term 30522 \
//	    --dense-dim 8 --dense-metric cosine --attr topic=keyword --attr year=int
//	shoalctl load examples/quickstart.jsonl --collection quickstart
//	shoalctl search --collection quickstart --query examples/quickstart-query.json
//
// docs/cli.md describes every command and flag.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd(os.Stdout, os.Stderr, os.Getenv)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shoalctl:", err)
		os.Exit(1)
	}
}
