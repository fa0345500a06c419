package main

import "github.com/urfave/cli/v2"

func promoteCommand() *cli.Command  { return &cli.Command{Name: "promote", Hidden: true} }
func drillCommand() *cli.Command    { return &cli.Command{Name: "drill", Hidden: true} }
func workloadCommand() *cli.Command { return &cli.Command{Name: "workload", Hidden: true} }
