//go:build windows

package core

import "syscall"

// brokenErrnos are the errors of a connection that broke (see brokenConn):
// Windows reports them with its own codes.
var brokenErrnos = []error{syscall.WSAECONNRESET, syscall.WSAECONNABORTED, syscall.ECONNRESET, syscall.EPIPE}
