package mapper

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeOnline measures building and encoding one dial-in event, done once per
// event whatever the number of subscribers.
func BenchmarkEncodeOnline(b *testing.B) {
	p := Party{CallSID: "CAe1889084a107d447398c45f7ab8f7aa2", TopicID: "5a1339868509b80641a56655",
		Username: "jsmith@fakeemail.com", DisplayName: "John Smith",
		PictureURL: "https://example.com/p/jsmith.png", Role: "member"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := json.Marshal(Online(p, "00fa52ac-1904-46ea-b7dc-1c496a712aef")); err != nil {
			b.Fatal(err)
		}
	}
}
