//go:build !unix

package playbooks

import "os/exec"

// killGroup leaves the default: cancelling the context kills the program
// (process groups are a Unix notion).
func killGroup(*exec.Cmd) {}
