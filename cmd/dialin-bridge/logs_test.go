package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogsWrittenAtExit: log lines are gathered and written on a timer, and what is logged
// during shutdown, just before run returns, is in the output all the same.
func TestLogsWrittenAtExit(t *testing.T) {
	setProductionEnv(t)
	setEnv(t, map[string]string{
		"DIALIN_LISTEN_ADDR": "127.0.0.1:0",
		"DIALIN_STORE":       "memory",
		"DIALIN_DATA_DIR":    t.TempDir(),
		// Reconciliation fails at once, on a closed port, rather than asking the internet.
		"DIALIN_TWILIO_API_URL": "http://127.0.0.1:1",
	})
	// The process's stderr is a file, read while the bridge writes it.
	path := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stderr := logFile(path)
	code := make(chan int, 1)
	go func() { code <- run(f) }()
	// "listening" is logged after the signal handler is installed.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "dialin-bridge listening") {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d:\n%s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop the bridge")
	}
	if !strings.Contains(stderr.String(), "shutting down: finishing webhooks in flight") {
		t.Fatalf("the line logged at shutdown is missing:\n%s", stderr.String())
	}
}

// logFile is what has been written to the file at path so far.
type logFile string

func (p logFile) String() string {
	b, _ := os.ReadFile(string(p))
	return string(b)
}
