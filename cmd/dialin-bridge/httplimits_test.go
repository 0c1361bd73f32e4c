package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testLimits are short enough for a test, and far apart from the delays the test uses for
// requests that must not be cut.
var testLimits = httpLimits{Header: 400 * time.Millisecond, Body: 400 * time.Millisecond, Idle: 400 * time.Millisecond}

// startServe runs the bridge in-process (dev mode, memory store) with limits, and returns
// its address.
func startServe(t *testing.T, limits httpLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := Config{Dev: true, ListenAddr: addr, PublicURL: "http://" + addr, Store: "memory",
		CallerID: "masked", ReconcileInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, limits, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("bridge did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second)) // the test's own bound: fail, never hang
	return c
}

// closedWithin reads c until the server closes it, and reports how long that took.
func closedWithin(t *testing.T, c net.Conn, r io.Reader, start time.Time) time.Duration {
	t.Helper()
	_, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	return time.Since(start)
}

var voiceBody = url.Values{"CallSid": {"CA" + strings.Repeat("1", 32)}, "From": {"+14155550123"}, "To": {"+15005550006"}}.Encode()

func metricValue(t *testing.T, addr, limit string) string {
	t.Helper()
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	m := regexp.MustCompile(`(?m)^dialin_http_timeouts_total\{limit="` + limit + `"\} (\S+)$`).FindSubmatch(b)
	if m == nil {
		return "0"
	}
	return string(m[1])
}

// TestHTTPLimits: with short limits, a webhook body trickling in is answered 408 and its
// connection closed; an idle keep-alive connection and one that never finishes its headers
// are closed; each is counted. A webhook whose body arrives in pieces within the limit, a
// websocket and a long-polling request held longer than every limit all work.
func TestHTTPLimits(t *testing.T) {
	addr := startServe(t, testLimits)

	t.Run("webhook in pieces within the limit", func(t *testing.T) {
		c := dial(t, addr)
		fmt.Fprintf(c, "POST /twilio/voice HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", addr, len(voiceBody))
		half := len(voiceBody) / 2
		io.WriteString(c, voiceBody[:half])
		time.Sleep(testLimits.Body / 2)
		io.WriteString(c, voiceBody[half:])
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<Conference") {
			t.Fatalf("webhook: %d %s; want 200 with the conference TwiML", resp.StatusCode, b)
		}
	})

	t.Run("slow webhook body", func(t *testing.T) {
		c := dial(t, addr)
		start := time.Now()
		fmt.Fprintf(c, "POST /twilio/voice HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", addr, len(voiceBody))
		stop := make(chan struct{})
		defer close(stop)
		go func() { // one byte every 100 ms, as an attacker would trickle it
			for i := 0; i < len(voiceBody); i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Write([]byte{voiceBody[i]}); err != nil {
					return
				}
			}
		}()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a slow body: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("slow body: %d %s; want 408", resp.StatusCode, b)
		}
		if d := closedWithin(t, c, br, start); d > testLimits.Body+time.Second {
			t.Errorf("slow body cut after %v; want about %v", d, testLimits.Body)
		}
		if v := metricValue(t, addr, limitBody); v != "1" {
			t.Errorf(`dialin_http_timeouts_total{limit="body"} = %s; want 1`, v)
		}
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		c := dial(t, addr)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		if d := closedWithin(t, c, br, time.Now()); d > testLimits.Idle+time.Second {
			t.Errorf("idle connection closed after %v; want about %v", d, testLimits.Idle)
		}
		if v := metricValue(t, addr, limitIdle); v == "0" {
			t.Error(`dialin_http_timeouts_total{limit="idle"} not counted`)
		}
	})

	t.Run("headers never finished", func(t *testing.T) {
		c := dial(t, addr)
		start := time.Now()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", addr)
		if d := closedWithin(t, c, c, start); d > testLimits.Header+time.Second {
			t.Errorf("connection without complete headers closed after %v; want about %v", d, testLimits.Header)
		}
		if v := metricValue(t, addr, limitHeader); v == "0" {
			t.Error(`dialin_http_timeouts_total{limit="header"} not counted`)
		}
	})

	t.Run("websocket outlives every limit", func(t *testing.T) {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=3&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "0{") {
			t.Fatalf("handshake: %q %v", m, err)
		}
		time.Sleep(3 * testLimits.Idle)
		if err := ws.WriteMessage(websocket.TextMessage, []byte("2")); err != nil {
			t.Fatal(err)
		}
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("websocket cut: %v", err)
			}
			if string(m) == "3" {
				break // the pong
			}
		}
	})

	t.Run("long poll outlives every limit", func(t *testing.T) {
		base := "http://" + addr + "/socket.io/?EIO=3&transport=polling"
		r, err := http.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		sid := regexp.MustCompile(`"sid":"([^"]+)"`).FindSubmatch(b)
		if sid == nil {
			t.Fatalf("handshake: %s", b)
		}
		poll := base + "&sid=" + url.QueryEscape(string(sid[1]))
		// Empty the server's queue before the held poll: the root namespace's CONNECT, queued
		// once go-socket.io hands the new session over (on the first poll after the
		// handshake, or a later one), and a pong. A POST is answered only once what it asked
		// for is sent, so the ping goes alongside.
		pinged := make(chan error, 1)
		go func() {
			r, err := http.Post(poll, "text/plain;charset=UTF-8", strings.NewReader("1:2"))
			if err == nil {
				r.Body.Close()
			}
			pinged <- err
		}()
		for connect, pong := false, false; !connect || !pong; {
			r, err := http.Get(poll)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusOK {
				t.Fatalf("poll while draining: %d %q", r.StatusCode, b)
			}
			// Binary payload frames: length digits, 0xff, then the packet.
			connect = connect || strings.Contains(string(b), "\xff40")
			pong = pong || strings.Contains(string(b), "\xff3")
		}
		if err := <-pinged; err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			r, err := http.Get(poll) // held until there is something to send
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			got <- string(b)
		}()
		time.Sleep(3 * testLimits.Idle)
		if r, err := http.Post(poll, "text/plain;charset=UTF-8", strings.NewReader("1:2")); err != nil {
			t.Fatal(err)
		} else {
			r.Body.Close()
		}
		select {
		case s := <-got:
			if !strings.Contains(s, "3") {
				t.Fatalf("held poll answered %q; want the pong", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("held poll not answered")
		}
	})
}
