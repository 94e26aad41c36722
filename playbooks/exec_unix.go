//go:build unix

package playbooks

import (
	"os/exec"
	"syscall"
)

// killGroup starts the program in a process group of its own and makes
// cancelling its context kill the whole group, so that nothing it started
// outlives the step's timeout.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not reaped before Wait returns, so the group id
		// is still ours.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
