// Command dialin-bridge makes people who dial into a meeting by phone appear in its room: it
// answers Twilio's voice webhooks and publishes the callers to the room's socket.io clients
// as presence events.
package main

import "os"

func main() { os.Exit(run(os.Stderr)) }
