// Package platform puts phone parties into the room platform's own socket.io cluster, through
// the socket.io Redis adapter that cluster already uses (contract §5): it is a sink of presence
// events, which it publishes into the platform's rooms, and a source of room requests, which it
// reads from what the platform broadcasts (request.parties, party.removed) and answers.
//
// This file is the adapter's wire format, as socket.io-redis 5.x writes and reads it:
// PUBLISH <key>#<nsp>#<room># with the msgpack encoding of [uid, packet, opts].
package platform

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Defaults of the configuration (contract §5).
const (
	DefaultKey       = "socket.io"
	DefaultNamespace = "/chat"
	DefaultRoom      = TopicPlaceholder
	// TopicPlaceholder is replaced by the topic id in the room template.
	TopicPlaceholder = "{topicId}"
)

// EventName is the socket.io event presence events travel as.
const EventName = "PRESENCE_EVENT_RESPONSE"

// packetEvent is socket.io's packet type of an event (EVENT = 2).
const packetEvent = 2

// maxTopicID is the longest topic id (contract §3).
const maxTopicID = 128

// Rooms maps topics to the platform's room names and back, from a template holding
// TopicPlaceholder once.
type Rooms struct{ prefix, suffix string }

// ErrRoomTemplate marks a room template without exactly one TopicPlaceholder.
var ErrRoomTemplate = errors.New("room template must hold " + TopicPlaceholder + " exactly once")

// NewRooms parses a room template such as "topic:{topicId}".
func NewRooms(template string) (Rooms, error) {
	if strings.Count(template, TopicPlaceholder) != 1 {
		return Rooms{}, ErrRoomTemplate
	}
	prefix, suffix, _ := strings.Cut(template, TopicPlaceholder)
	return Rooms{prefix: prefix, suffix: suffix}, nil
}

// Room is the room of a topic.
func (r Rooms) Room(topicID string) string { return r.prefix + topicID + r.suffix }

// Topic is the topic whose room is room, or false when room is not a topic's room.
func (r Rooms) Topic(room string) (string, bool) {
	if len(room) <= len(r.prefix)+len(r.suffix) || !strings.HasPrefix(room, r.prefix) || !strings.HasSuffix(room, r.suffix) {
		return "", false
	}
	t := room[len(r.prefix) : len(room)-len(r.suffix)]
	if len(t) > maxTopicID {
		return "", false
	}
	return t, true
}

// Channel is the adapter's channel of one room of a namespace.
func Channel(key, nsp, room string) string { return key + "#" + nsp + "#" + room + "#" }

// Pattern matches every broadcast of a namespace, to one room, several or none.
func Pattern(key, nsp string) string { return key + "#" + nsp + "#*" }

// packet is a socket.io packet as the adapter carries it.
type packet struct {
	Type int    `json:"type"`
	Data [2]any `json:"data"`
	Nsp  string `json:"nsp"`
}

// opts is the adapter's broadcast options.
type opts struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
	Flags  struct{} `json:"flags"`
}

// Encode is the adapter message that broadcasts ev as PRESENCE_EVENT_RESPONSE to room of
// namespace nsp, sent by uid. Field names are the event's JSON names.
func Encode(uid, nsp, room string, ev mapper.Event) ([]byte, error) {
	return encode(uid, nsp, room, ev)
}

// encode is Encode of any payload that encodes by its JSON field names.
func encode(uid, nsp, room string, ev any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	msg := []any{
		uid,
		packet{Type: packetEvent, Data: [2]any{EventName, ev}, Nsp: nsp},
		opts{Rooms: []string{room}, Except: []string{}},
	}
	if err := enc.Encode(msg); err != nil {
		return nil, fmt.Errorf("encode adapter message: %w", err)
	}
	return buf.Bytes(), nil
}
