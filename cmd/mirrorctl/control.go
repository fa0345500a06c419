package main

import (
	"context"

	"github.com/mirrorctl/mirrorctl/control"
)

// The mount process answers `status` and `resync` over its control socket (package control, which
// answers only root and the mount's owner); these names keep the commands' call sites short.

type mountInfo = control.Info

var (
	readMountInfo = control.ReadInfo
	queryStatus   = control.QueryStatus
	requestResync = control.RequestResync
)

// serveControl starts the control socket; the returned function stops it and removes its files.
func serveControl(mi mountInfo, status func() any, resync func(context.Context) (any, error)) (func(), error) {
	return control.Serve(mi, control.Handlers{Status: status, Resync: resync})
}
