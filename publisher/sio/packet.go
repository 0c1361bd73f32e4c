package sio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Socket.io 2.x packet types (socket.io-parser 3.x), as the digit that starts a packet.
const (
	typeConnect     = '0'
	typeDisconnect  = '1'
	typeEvent       = '2'
	typeAck         = '3'
	typeError       = '4'
	typeBinaryEvent = '5'
	typeBinaryAck   = '6'
)

// Refusals of what a client sends. Each closes the connection (socket.io 2.x servers close a
// client whose packet they cannot decode) and is counted under its reason.
var (
	ErrBinary    = errors.New("binary packets are not supported")
	ErrMalformed = errors.New("malformed packet")
	ErrTooLarge  = errors.New("message too large")
)

const (
	maxNamespace = 128     // a namespace's name
	maxQuery     = 8 << 10 // a CONNECT's query, which carries a token
	maxAckDigits = 15      // ack ids stay well within a JavaScript number
)

// packet is a socket.io packet a client sent.
type packet struct {
	typ   byte
	nsp   string // "/" when the packet names none
	query string // CONNECT only: the namespace's query, after '?'
	id    int64  // the acknowledgement id, or -1
	data  []byte // JSON, or empty
}

// parsePacket reads a socket.io packet as socket.io-parser 3.x writes it:
//
//	<type>[/<namespace>[?<query>],][<ack id>][<JSON>]
//
// It is the only parser a client's socket.io packet meets. It refuses binary packets, whose
// header declares attachments (go-socket.io's own decoder allocates whatever count a header
// claims), and accepts no header that is not exactly of this form: the data, when present,
// must be valid JSON.
func parsePacket(b []byte) (packet, error) {
	p := packet{nsp: "/", id: -1}
	if len(b) == 0 {
		return p, ErrMalformed
	}
	p.typ = b[0]
	switch p.typ {
	case typeConnect, typeDisconnect, typeEvent, typeAck, typeError:
	case typeBinaryEvent, typeBinaryAck:
		return p, ErrBinary
	default:
		return p, ErrMalformed
	}
	rest := b[1:]
	if len(rest) > 0 && rest[0] == '/' {
		nsp := rest
		rest = nil
		if i := bytes.IndexByte(nsp, ','); i >= 0 {
			nsp, rest = nsp[:i], nsp[i+1:]
		}
		if i := bytes.IndexByte(nsp, '?'); i >= 0 {
			if p.typ != typeConnect || len(nsp)-i-1 > maxQuery {
				return p, ErrMalformed
			}
			nsp, p.query = nsp[:i], string(nsp[i+1:])
		}
		if len(nsp) > maxNamespace {
			return p, ErrMalformed
		}
		p.nsp = string(nsp)
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		if n > maxAckDigits {
			return p, ErrMalformed
		}
		p.id, _ = strconv.ParseInt(string(rest[:n]), 10, 64)
		rest = rest[n:]
	}
	if len(rest) > 0 && !json.Valid(rest) {
		return p, ErrMalformed
	}
	p.data = rest
	return p, nil
}

// eventArgs splits an EVENT packet's data into its name and first argument (nil when it has
// none). It reports false for data that is not an array starting with a string.
func eventArgs(data []byte) (string, json.RawMessage, bool) {
	var args []json.RawMessage
	if json.Unmarshal(data, &args) != nil || len(args) == 0 {
		return "", nil, false
	}
	var name string
	if json.Unmarshal(args[0], &name) != nil {
		return "", nil, false
	}
	if len(args) < 2 {
		return name, nil, true
	}
	return name, args[1], true
}

// prefix starts a packet of a namespace: "<type>" for the root, "<type>/chat," for others.
func prefix(typ byte, nsp string, extra int) []byte {
	p := make([]byte, 0, 2+len(nsp)+extra)
	p = append(p, typ)
	if nsp != "/" {
		p = append(p, nsp...)
		p = append(p, ',')
	}
	return p
}

// EventPacket frames an EVENT packet, <type><nsp>,["event",payload], once for every client
// it goes to. payload is JSON; it is sent in ASCII, every other character escaped, since
// go-socket.io frames polling payloads by their length in bytes while socket.io-client 2.x
// reads lengths in characters.
func EventPacket(nsp, event string, payload []byte) []byte {
	payload = ASCIIJSON(payload)
	p := prefix(typeEvent, nsp, len(event)+len(payload)+6)
	p = append(p, `["`...)
	p = append(p, event...)
	p = append(p, `",`...)
	p = append(p, payload...)
	return append(p, ']')
}

// connectPacket acknowledges a namespace CONNECT as socket.io 2.x servers do: "40/chat,",
// with no payload (socket.io-client-java 1.0.2 and later refuse one).
func connectPacket(nsp string) []byte { return prefix(typeConnect, nsp, 0) }

// errorPacket refuses a namespace CONNECT: "44/chat,\"reason\"". The client's error handler
// gets the reason, and it does not reconnect in a loop.
func errorPacket(nsp, reason string) []byte {
	r, _ := json.Marshal(reason)
	return append(prefix(typeError, nsp, len(r)), ASCIIJSON(r)...)
}

// ackPacket answers an event that asked for an acknowledgement: "43/chat,<id>[payload]".
// A nil payload acknowledges with no arguments.
func ackPacket(nsp string, id int64, payload []byte) []byte {
	payload = ASCIIJSON(payload)
	p := prefix(typeAck, nsp, len(payload)+18)
	p = strconv.AppendInt(p, id, 10)
	p = append(p, '[')
	p = append(p, payload...)
	return append(p, ']')
}
