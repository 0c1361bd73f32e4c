package roster

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestCallKeepsNoWebhookBody: a call's sid arrives as a slice of its webhook's whole body (as
// url.ParseQuery leaves it), and the roster keeps the sid for as long as the call lives (the
// bolt store's live index, the memory store's map). The body must not live that long with
// it: here a 1 MiB body is freed while its call is online.
func TestCallKeepsNoWebhookBody(t *testing.T) {
	stores := map[string]Store{"bolt": openTestBolt(t, t.TempDir()), "memory": NewMemory()}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			r := New(store)
			const sid = "CA0123456789abcdef0123456789abcdef"
			freed := make(chan struct{})
			func() {
				body := strings.Repeat("x", 1<<20) + "&CallSid=" + sid + "&FriendlyName=T1"
				runtime.AddCleanup(unsafe.StringData(body), func(ch chan struct{}) { close(ch) }, freed)
				i := strings.Index(body, "CallSid=") + len("CallSid=")
				fromBody := body[i : i+len(sid)]
				topic := body[len(body)-2:]
				ctx := context.Background()
				if _, err := r.Admit(ctx, fromBody, topic, Identity{DisplayName: "x"}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Participant(ctx, fromBody, Participant{ConferenceSID: "CF1", TopicID: topic, Seq: 1}, nil); err != nil {
					t.Fatal(err)
				}
			}()
			deadline := time.After(5 * time.Second)
			for {
				runtime.GC()
				select {
				case <-freed:
					if c, ok, _ := store.Get(context.Background(), sid); !ok || c.State != Online {
						t.Fatalf("the call is %+v (found %v), want online", c, ok)
					}
					return
				case <-deadline:
					t.Fatal("the webhook's body is still held 5 s after the webhook: the roster keeps a slice of it")
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
}
