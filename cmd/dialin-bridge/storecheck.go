package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/dialin-bridge/dialin-bridge/roster"
)

// checkStoreCommand is the subcommand that checks a bolt roster file.
const checkStoreCommand = "check-store"

// checkStore checks the bolt file at path: 0 when whole, 1 (and why, on stderr) when not.
func checkStore(path string, stderr io.Writer) int {
	if err := roster.CheckBoltFull(path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// checkInChild checks the bolt file at path in a child process (this binary, check-store),
// with bbolt's own full check, which can panic on a damaged page in a goroutine of its own:
// that must not take the bridge down. If the child cannot be started, roster.CheckBolt
// (which recovers) runs here.
func checkInChild(path string) error {
	exe, err := os.Executable()
	if err != nil {
		return roster.CheckBolt(path)
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, checkStoreCommand, path)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		reason := strings.TrimSpace(out.String())
		if len(reason) > 512 {
			reason = reason[:512] + "…"
		}
		if reason == "" {
			reason = exit.String()
		}
		return errors.New(reason)
	}
	return roster.CheckBolt(path)
}
