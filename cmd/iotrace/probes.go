package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/iotrace/iotrace/internal/collector"
)

func newProbesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "probes",
		Short: "Show what this kernel allows and which probe mode auto would choose",
		Long: `probes tries each capability iotrace depends on for real (loading and
attaching a minimal program) and prints yes, or the kernel's reason for no.
It mounts tracefs at /sys/kernel/tracing if no tracefs is mounted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, c := range collector.Probe() {
				ok := "no"
				if c.OK {
					ok = "yes"
				}
				detail := c.Detail
				if c.OK && detail == "yes" {
					detail = ""
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, ok, detail)
			}
			return tw.Flush()
		},
	}
}
