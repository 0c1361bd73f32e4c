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

// checkStore checks the bolt file at path: 0 when whole, 1 (and why, on stderr) when
// damaged, 3 when it could not be checked. bbolt panicking on a damaged page exits 2.
func checkStore(path string, stderr io.Writer) int {
	err := roster.CheckBoltFull(path)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, err)
	if errors.Is(err, roster.ErrDamaged) {
		return 1
	}
	return 3
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
	if err == nil {
		return nil
	}
	if !errors.As(err, &exit) {
		return roster.CheckBolt(path)
	}
	reason := strings.TrimPrefix(strings.TrimSpace(out.String()), roster.ErrDamaged.Error()+": ")
	if len(reason) > 512 {
		reason = reason[:512] + "…"
	}
	if reason == "" {
		reason = exit.String()
	}
	switch exit.ExitCode() {
	case 1, 2: // damaged, or bbolt panicked on it
		return fmt.Errorf("%w (%s)", roster.ErrDamaged, reason)
	}
	// Killed, or could not check: not a verdict on the file.
	return fmt.Errorf("check-store %s: %s", exit, reason)
}
