package main

import (
	"strings"
	"testing"
	"time"
)

func TestLobbyConfig(t *testing.T) {
	raw := validRaw()
	raw.LobbyMusicURL, raw.LobbyTimeout = " https://music.example.com/wait.mp3 ", "90s"
	c, err := raw.validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Lobby.MusicURL != "https://music.example.com/wait.mp3" || c.Lobby.Timeout != 90*time.Second {
		t.Errorf("lobby config %+v", c.Lobby)
	}
}

// TestLobbyConfigErrors: each bad variable is named in one message.
func TestLobbyConfigErrors(t *testing.T) {
	for _, tc := range []struct{ music, timeout string }{
		{"wait.mp3", "0s"},
		{"ftp://music.example.com/wait.mp3", "ten minutes"},
		{"https://", "13h"},
	} {
		raw := validRaw()
		raw.LobbyMusicURL, raw.LobbyTimeout = tc.music, tc.timeout
		_, err := raw.validate()
		if err == nil {
			t.Fatalf("%q, %q accepted", tc.music, tc.timeout)
		}
		for _, name := range []string{"DIALIN_LOBBY_MUSIC_URL", "DIALIN_LOBBY_TIMEOUT"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error does not name %s: %v", name, err)
			}
		}
	}
}
