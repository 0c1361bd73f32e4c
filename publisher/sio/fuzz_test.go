package sio

import (
	"bytes"
	"testing"
)

// hostile are packets seen from attackers and strangers' clients: headers claiming huge
// attachment counts (they panicked go-socket.io's decoder), binary packets, and oddities.
var hostile = []string{
	`51000000000000000-["x"]`,
	`11000000000000000-["x"]`,
	`61-/chat,0[{"_placeholder":true,"num":0}]`,
	`2/chat,["SUBSCRIBE_CHANNEL",{"channel":{"_id":"t1","type":"topic"}}]`,
	`2/chat,5["SUBSCRIBE_CHANNEL",{"channel":{"_id":"t1"}}]`,
	`0/chat?token=abc&tokenType=jwt`,
	`0/chat,`, `1/chat,`, `0`, `3/chat,1[]`, `4/chat,"x"`, `9`, ``, `2/chat,["x"`,
	`2/` + string(bytes.Repeat([]byte("n"), 300)) + `,[]`,
	`2/chat,1234567890123456["x"]`,
}

// FuzzParsePacket: no packet panics the parser, and what it accepts has a type a client
// sends, no attachments, a bounded ack id and JSON data.
func FuzzParsePacket(f *testing.F) {
	for _, s := range hostile {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePacket(b)
		if err != nil {
			return
		}
		if p.typ < typeConnect || p.typ > typeError {
			t.Errorf("accepted type %q in %q", p.typ, b)
		}
		if p.id > 999999999999999 {
			t.Errorf("accepted ack id %d in %q", p.id, b)
		}
		if len(p.nsp) > maxNamespace {
			t.Errorf("accepted a namespace of %d bytes", len(p.nsp))
		}
		if p.typ == typeEvent {
			eventArgs(p.data) // must not panic either
		}
	})
}

// FuzzCanonicalPayload: no polling body panics the check, and what it passes on to
// go-socket.io is an ASCII text payload whose every length is right and whose every packet
// is of a type a client sends.
func FuzzCanonicalPayload(f *testing.F) {
	for _, s := range hostile {
		f.Add([]byte(itoa(len([]rune("4"+s)))+":4"+s), false)
	}
	for _, s := range []string{`15:42/chat,["Zoë"]`, `1:2`, `2:40` + `14:42/chat,["日本"]`, `3:x`, `:::`, `99999999999999999999:a`, `6:2probe1:5`} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("\x00\x02\xff40\x00\x01\xff2"), true)
	f.Add([]byte("\x01\x03\xff\x04\x01\x02"), true)
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		out, err := canonicalPayload(body, binary)
		if err != nil {
			return
		}
		if !isASCII(out) {
			t.Fatalf("canonicalPayload(%q) = %q: not ASCII", body, out)
		}
		for len(out) > 0 {
			pkt, rest, err := nextTextFrame(out)
			if err != nil || len(pkt) == 0 || !clientPacketType(pkt[0]) {
				t.Fatalf("canonicalPayload(%q) = %q: bad frame at %q", body, out, out)
			}
			out = rest
		}
	})
}
