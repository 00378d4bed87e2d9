package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// runCluster starts a 3-member cluster of child processes on loopback,
// prints its endpoints as one line, and runs until SIGTERM or SIGINT.
func runCluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seedkv cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "data directory of the cluster (default: a temporary one, removed at exit)")
	n := fs.Int("members", 3, "number of members")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("cluster: unexpected argument %q", fs.Arg(0))
	}
	if *n < 1 || *n > 7 {
		return usageErr("cluster: -members %d: between 1 and 7", *n)
	}
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "seedkv-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		d = tmp
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	c, err := newProcCluster(*n, d, stderr, nil)
	if err != nil {
		return err
	}
	defer c.StopAll()
	for i := range *n {
		if err := c.Start(i); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "endpoints=%s\n", c.Endpoints())
	s := <-sig
	fmt.Fprintf(stderr, "seedkv cluster: %v: stopping the members\n", s)
	return nil
}
