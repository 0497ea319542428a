//go:build !windows

package core

import "syscall"

// brokenErrnos are the errors of a connection that broke (see brokenConn).
var brokenErrnos = []error{syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE}
