package publisher

import "encoding/json"

// echoOf reads only what the refusal of an oversized request echoes: its topicId (a string)
// and loopbackMetadata, each kept only up to maxPresence bytes. encoding/json skips every
// other field without keeping it, the nesting it follows is bounded, and the whole request
// is within the socket's message cap.
func echoOf(raw json.RawMessage) presenceRequest {
	var (
		loose struct {
			TopicID          json.RawMessage `json:"topicId"`
			LoopbackMetadata json.RawMessage `json:"loopbackMetadata"`
		}
		req presenceRequest
	)
	if json.Unmarshal(raw, &loose) != nil {
		return req
	}
	if len(loose.TopicID) <= maxPresence {
		json.Unmarshal(loose.TopicID, &req.TopicID) // a topicId that is not a string is not echoed
	}
	if len(loose.LoopbackMetadata) <= maxPresence {
		req.LoopbackMetadata = loose.LoopbackMetadata
	}
	return req
}
