// Command dialin-bridge makes people who dial into a meeting by phone appear in its room: it
// answers Twilio's voice webhooks and publishes the callers to the room's socket.io clients
// as presence events.
//
// "dialin-bridge check-store PATH" checks a bolt roster file and exits 1 if it is damaged.
package main

import "os"

func main() {
	if len(os.Args) == 3 && os.Args[1] == checkStoreCommand {
		os.Exit(checkStore(os.Args[2], os.Stderr))
	}
	os.Exit(run(os.Stderr))
}
