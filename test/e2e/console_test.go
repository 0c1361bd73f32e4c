package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

// The console's browser tests (contract §9) drive the page as a person would: controls are
// found by role and accessible name (Playwright's getByRole and getByLabel), and what is
// checked is what the page shows.

const (
	topicSync  = "Weekly sync"
	topicLobby = "Front desk"
	hostile    = `<img src=x onerror=alert(1)>`
	lobbyTopic = "6b2a4c0e9d8f7a6b5c4d3e2f"
)

// consoleRooms names topic A, gives topic B a hostile name, and adds a topic with a lobby.
const consoleRooms = `{
  "topics": [
    { "topicId": "` + topicA + `", "pin": "` + pinA + `", "numbers": ["` + numA + `"], "name": "` + topicSync + `" },
    { "topicId": "` + topicB + `", "pin": "` + pinB + `", "numbers": ["` + numB + `"], "name": "<img src=x onerror=alert(1)>" },
    { "topicId": "` + lobbyTopic + `", "pin": "555000", "name": "` + topicLobby + `", "lobby": true }
  ],
  "callers": [
    { "number": "` + knownCaller + `", "username": "jsmith@fakeemail.com", "displayname": "John Smith",
      "picture_url": "https://example.com/p/jsmith.png", "role": "member" }
  ]
}`

// devConsoleEnv is development mode as the README's first command runs it (no Twilio
// credentials: the simulator answers), with the console's rooms file and a JWT secret so
// that tokens can name web parties.
func devConsoleEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"DIALIN_DEV":                "true",
		"DIALIN_ROOMS_FILE":         writeFile(t, dir, "rooms.json", consoleRooms),
		"DIALIN_DATA_DIR":           filepath.Join(dir, "data"),
		"DIALIN_JWT_SECRET":         jwtSecret,
		"DIALIN_DIALOUT_FROM":       "+15005550006",
		"DIALIN_DIALOUT_PREFIXES":   "+1,+44",
		"DIALIN_RECONCILE_INTERVAL": "1h",
	}
}

// consolePage is one tab of the console.
type consolePage struct {
	t    *testing.T
	br   *browser
	name string
}

// openConsole opens url in a new tab of width × height pixels, and counts the dialogs the
// page opens (a script that ran where text belonged would alert).
func openConsole(t *testing.T, br *browser, name, url string, width, height int) *consolePage {
	t.Helper()
	if r := br.call(map[string]any{"op": "open", "page": name, "url": url, "width": width, "height": height}); !r.OK {
		t.Fatalf("open %s: %s", url, r.Error)
	}
	c := &consolePage{t: t, br: br, name: name}
	c.do("count dialogs", `page.on('dialog', (d) => { page.dialogs = (page.dialogs || 0) + 1; d.dismiss(); });`)
	return c
}

// do runs Playwright code (the body of an async function of page and errors) and returns its
// value; an error fails the test and shows the page.
func (c *consolePage) do(what, js string) json.RawMessage {
	c.t.Helper()
	r := c.br.call(map[string]any{"op": "do", "page": c.name, "js": js})
	if !r.OK {
		c.t.Fatalf("%s: %s\nthe page shows:\n%s", what, r.Error, c.br.text(c.name))
	}
	return r.Value
}

func (c *consolePage) str(what, js string) string {
	c.t.Helper()
	var s string
	if err := json.Unmarshal(c.do(what, js), &s); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return s
}

func (c *consolePage) num(what, js string) int {
	c.t.Helper()
	var n int
	if err := json.Unmarshal(c.do(what, js), &n); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return n
}

// q quotes s as a JavaScript string.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Locators, as a person finds things: the topic's region by its name, the phone list, a
// party's list item by its name, a button by its name.
func region(topic string) string {
	return fmt.Sprintf("page.getByRole('region', { name: %s, exact: true })", q(topic))
}

func phoneList(topic string) string {
	return region(topic) + ".getByRole('list', { name: 'On the phone', exact: true })"
}

func phoneParty(topic, name string) string {
	return phoneList(topic) + fmt.Sprintf(".getByRole('listitem').filter({ hasText: %s })", q(name))
}

func button(in, name string) string {
	return in + fmt.Sprintf(".getByRole('button', { name: %s, exact: true })", q(name))
}

// click presses the button; it must exist, visible and enabled, within 5 s.
func (c *consolePage) click(what, locator string) {
	c.t.Helper()
	c.do("click "+what, "await "+locator+".click({ timeout: 5000 });")
}

// waitText waits until locator shows text matching re, and returns what it shows.
func (c *consolePage) waitText(what, locator, re string, d time.Duration) string {
	c.t.Helper()
	return c.str(what, fmt.Sprintf(`const l = %s.filter({ hasText: new RegExp(%s) }).first();
		await l.waitFor({ timeout: %d });
		return await l.innerText();`, locator, q(re), d.Milliseconds()))
}

// gone waits until locator matches nothing.
func (c *consolePage) gone(what, locator string, d time.Duration) {
	c.t.Helper()
	c.do(what, fmt.Sprintf("await %s.first().waitFor({ state: 'detached', timeout: %d });", locator, d.Milliseconds()))
}

// simulate presses "Simulate a call" in topic and returns the new phone party's name, and how
// long it took to appear.
func (c *consolePage) simulate(topic string) (string, time.Duration) {
	c.t.Helper()
	var r struct {
		Name string
		MS   int
	}
	v := c.do("simulate a call in "+topic, fmt.Sprintf(`const items = %s.getByRole('listitem');
		const n = await items.count();
		const b = %s;
		await b.waitFor({ timeout: 5000 });
		const start = Date.now();
		await b.click();
		await items.nth(n).waitFor({ timeout: 5000 });
		const ms = Date.now() - start;
		return { name: await items.nth(n).locator('.name').innerText(), ms };`,
		phoneList(topic), button(region(topic), "Simulate a call")))
	if err := json.Unmarshal(v, &r); err != nil {
		c.t.Fatal(err)
	}
	return r.Name, time.Duration(r.MS) * time.Millisecond
}

// clean checks that the page ran no script it should not have: no dialog, no error, no CSP
// violation in its console.
func (c *consolePage) clean() {
	c.t.Helper()
	var r struct {
		Dialogs int
		Errors  []string
	}
	// A refused request (401, 404) is logged by the browser as a failed load: that is the
	// page at work. Anything else (a script error, a CSP violation) is not.
	json.Unmarshal(c.do("page errors", "return { dialogs: page.dialogs || 0, errors: errors.filter((e) => !e.startsWith('Failed to load resource: the server responded with a status of 4')) };"), &r)
	if r.Dialogs != 0 || len(r.Errors) != 0 {
		t := c.t
		t.Errorf("page %s: %d dialogs, errors %q; want none", c.name, r.Dialogs, r.Errors)
	}
}

// TestConsoleCalls: development mode alone, as a newcomer runs it. A simulated call appears
// within a second; mute, hold and their undoing show once the simulated Twilio has called
// back; mute all mutes every party; remove and hang up take a party away at once with its
// reason for a few seconds; everything works by keyboard with a visible focus.
func TestConsoleCalls(t *testing.T) {
	t.Parallel()
	b := startBridge(t, devConsoleEnv(t))
	br := startBrowserArgs(t, "240")
	c := openConsole(t, br, "console", b.URL+"/console", 1280, 900)

	c.waitText("the dev-mode note", "page.getByText(/Development mode/)", "no token is needed", 10*time.Second)
	if n := c.num("sign-in form", "return await page.getByRole('button', { name: 'Sign in' }).count();"); n != 0 {
		t.Errorf("development mode shows %d Sign in buttons; want none (no token needed)", n)
	}
	c.waitText("live", "page.getByRole('status')", "^Live$", 10*time.Second)

	ann, took := c.simulate(topicSync)
	if took > time.Second {
		t.Errorf("the simulated call appeared after %v; want within a second", took)
	}
	if !regexp.MustCompile(`^\+1 ••• 01\d\d$`).MatchString(ann) {
		t.Errorf("the simulated caller is shown as %q; want a masked number such as +1 ••• 0142", ann)
	}
	line := c.waitText("connected", phoneParty(topicSync, ann), `connected`, 5*time.Second)
	for _, want := range []string{"connected", "Mute", "Hold", "Remove", "Hang up"} {
		if !strings.Contains(line, want) {
			t.Errorf("the party's line %q lacks %q", line, want)
		}
	}
	c.waitText("duration", phoneParty(topicSync, ann), `0:0[1-9]`, 5*time.Second)

	// Mute and hold show only once Twilio (simulated) has called back.
	c.click("Mute", button(phoneParty(topicSync, ann), "Mute"))
	c.waitText("muted", phoneParty(topicSync, ann), `connected, muted`, eventWait)
	c.click("Unmute", button(phoneParty(topicSync, ann), "Unmute"))
	c.waitText("unmuted", phoneParty(topicSync, ann), `connected(?!,)`, eventWait)
	c.click("Hold", button(phoneParty(topicSync, ann), "Hold"))
	c.waitText("on hold", phoneParty(topicSync, ann), `connected, on hold`, eventWait)
	c.click("Unhold", button(phoneParty(topicSync, ann), "Unhold"))
	c.waitText("off hold", phoneParty(topicSync, ann), `Hold`, eventWait)

	// Mute all.
	bob, _ := c.simulate(topicSync)
	c.waitText("second party", phoneParty(topicSync, bob), `connected`, eventWait)
	c.click("Mute all", button(region(topicSync), "Mute all"))
	c.waitText("first muted", phoneParty(topicSync, ann), `muted`, eventWait)
	c.waitText("second muted", phoneParty(topicSync, bob), `muted`, eventWait)

	// Keyboard alone: Tab reaches the second party's Unmute, its focus is visible, Enter
	// presses it.
	var focus struct {
		Tabs    int
		Outline string
	}
	json.Unmarshal(c.do("tab to Unmute", fmt.Sprintf(`const target = %s;
		await page.locator('body').focus();
		for (let i = 1; i <= 60; i++) {
			await page.keyboard.press('Tab');
			if (await target.evaluate((b) => b === document.activeElement)) {
				const s = await target.evaluate((b) => { const c = getComputedStyle(b); return c.outlineStyle + ' ' + c.outlineWidth; });
				return { tabs: i, outline: s };
			}
		}
		return { tabs: -1, outline: '' };`, button(phoneParty(topicSync, bob), "Unmute"))), &focus)
	if focus.Tabs < 0 {
		t.Fatalf("Tab never reached %s's Unmute", bob)
	}
	if !strings.HasPrefix(focus.Outline, "solid") || focus.Outline == "solid 0px" {
		t.Errorf("the focused button's outline is %q; want a visible one", focus.Outline)
	}
	c.do("Enter", "await page.keyboard.press('Enter');")
	c.waitText("unmuted by keyboard", phoneParty(topicSync, bob), `connected(?!,)`, eventWait)
	if got := c.str("focus", "return await page.evaluate(() => document.activeElement.textContent);"); got != "Mute" {
		t.Errorf("after Enter the focus is on %q; want the same button, now Mute", got)
	}

	// Remove: the party and its controls go at once; the reason shows for a few seconds.
	c.click("Remove", button(phoneParty(topicSync, ann), "Remove"))
	c.gone("removed party", phoneParty(topicSync, ann), eventWait)
	c.waitText("reason", region(topicSync)+".getByRole('list', { name: 'Just left' })", regexp.QuoteMeta(ann)+" left: removed", time.Second)
	c.gone("reason fades", region(topicSync)+".getByText("+q(ann+" left: removed")+")", 10*time.Second)

	// Hang up (development mode): the caller hangs up.
	c.click("Hang up", button(phoneParty(topicSync, bob), "Hang up"))
	c.gone("hung-up party", phoneParty(topicSync, bob), eventWait)
	c.waitText("reason", region(topicSync), regexp.QuoteMeta(bob)+" left: hung up", time.Second)
	c.waitText("nobody", region(topicSync), "Nobody on the phone", time.Second)

	c.clean()
}

// TestConsoleDialOutLobby: a dial-out rings, then joins, under the name typed, even a hostile
// one, shown as written; a refused dial-out shows its error; lobby callers are admitted and
// denied; the page fits 375 px. It takes the README's screenshots.
func TestConsoleDialOutLobby(t *testing.T) {
	t.Parallel()
	b := startBridge(t, devConsoleEnv(t))
	br := startBrowserArgs(t, "240")
	c := openConsole(t, br, "console", b.URL+"/console", 1280, 900)
	c.waitText("live", "page.getByRole('status')", "^Live$", 10*time.Second)

	// The hostile topic name is the region's name, as written.
	if n := c.num("hostile region", "return await "+region(hostile)+".count();"); n != 1 {
		t.Errorf("%d regions named %s; want 1", n, hostile)
	}

	// A refused dial-out: its one-line error in an alert.
	sync := region(topicSync)
	c.do("type a bad number", "await "+sync+".getByLabel('Phone number', { exact: true }).fill('12345');")
	c.click("Call", button(sync, "Call"))
	alert := c.waitText("refusal", sync+".getByRole('alert')", `^Call: .+`, eventWait)
	if strings.Contains(alert, "\n") {
		t.Errorf("the refusal %q is more than one line", alert)
	}

	// A dial-out, named by a hostile string: ringing, then connected.
	c.do("type a number", "await "+sync+".getByLabel('Phone number', { exact: true }).fill('+14155550177');")
	c.do("type a name", "await "+sync+".getByLabel('Name', { exact: true }).fill("+q(hostile)+");")
	c.click("Call", button(sync, "Call"))
	if got := c.waitText("ringing", phoneParty(topicSync, hostile), `ringing`, eventWait); !strings.HasPrefix(got, hostile) {
		t.Errorf("the dial-out shows %q; want its name as written, then ringing", got)
	}
	if n := c.num("ringing controls", "return await "+button(phoneParty(topicSync, hostile), "Mute")+".count();"); n != 0 {
		t.Errorf("a ringing dial-out offers Mute; want only Remove")
	}
	c.waitText("joined", phoneParty(topicSync, hostile), `connected`, 10*time.Second)
	if n := c.num("img elements", "return await page.locator('img').count();"); n != 0 {
		t.Errorf("the page holds %d img elements; want none (names are text)", n)
	}
	if got := c.str("typed number", "return await page.evaluate(() => document.body.innerText);"); strings.Contains(got, "5550177") {
		t.Errorf("the page shows the dialled number in full:\n%s", got)
	}

	// The lobby: a simulated call to the lobby's topic waits; Admit lets it in, Deny not.
	lobby := region(topicLobby) + ".getByRole('list', { name: 'Lobby', exact: true }).getByRole('listitem')"
	c.click("Simulate a call", button(region(topicLobby), "Simulate a call"))
	waiting := c.waitText("waiting", lobby, `waiting`, eventWait)
	name := strings.Split(waiting, "\n")[0]
	c.click("Admit", button(lobby, "Admit"))
	c.gone("admitted", lobby, eventWait)
	c.waitText("admitted party", phoneParty(topicLobby, name), `connected`, eventWait)
	c.click("Simulate a call", button(region(topicLobby), "Simulate a call"))
	c.waitText("waiting", lobby, `waiting`, eventWait)
	c.click("Deny", button(lobby, "Deny"))
	c.gone("denied", lobby, eventWait)
	c.waitText("turned away", region(topicLobby), `was turned away`, time.Second)
	if n := c.num("phone parties", "return await "+phoneList(topicLobby)+".getByRole('listitem').count();"); n != 1 {
		t.Errorf("the lobby's topic has %d phone parties after one admit and one deny; want 1", n)
	}

	// The README's pictures: a busy topic at desktop and at phone width.
	ann, _ := c.simulate(topicSync)
	c.click("Mute", button(phoneParty(topicSync, ann), "Mute"))
	c.waitText("muted", phoneParty(topicSync, ann), `muted`, eventWait)
	c.do("a web party", `await page.evaluate(() => new Promise((done) => {
		const s = io('/chat', { forceNew: true, query: { token: `+q(devToken("ann", "Ann Lee", topicA))+`, tokenType: 'jwt' } });
		s.on('connect', () => s.emit('SUBSCRIBE_CHANNEL', { channel: { _id: `+q(topicA)+`, type: 'topic' } }));
		s.on('CHANNEL_SUBSCRIBED', () => { s.emit('SEND_PRESENCE_EVENT', { category: 'app.event.presence.party.online', topicId: `+q(topicA)+`,
			content: { mediaSession: { audio: true, video: false, connected: true } } }); done(); });
	}));`)
	c.waitText("web party", sync+".getByRole('list', { name: 'Online on the web' })", "Ann Lee", eventWait)
	time.Sleep(1500 * time.Millisecond) // durations that read as durations in the picture
	shot(t, c, "console-desktop.png")

	p := openConsole(t, br, "phone", b.URL+"/console", 375, 812)
	p.waitText("parties", phoneParty(topicSync, ann), `muted`, 10*time.Second)
	var layout struct {
		Scroll int
		Out    []string
	}
	json.Unmarshal(p.do("layout", `return await page.evaluate(() => {
		const out = [];
		for (const e of document.querySelectorAll('button, input, h2, .name')) {
			const r = e.getBoundingClientRect();
			if (r.width > 0 && (r.left < 0 || r.right > window.innerWidth)) out.push(e.textContent || e.id);
		}
		return { scroll: document.documentElement.scrollWidth, out };
	});`), &layout)
	if layout.Scroll > 375 || len(layout.Out) > 0 {
		t.Errorf("at 375 px the page is %d px wide and %q stick out; want it to fit", layout.Scroll, layout.Out)
	}
	p.click("Unmute at 375 px", button(phoneParty(topicSync, ann), "Unmute"))
	p.waitText("unmuted", phoneParty(topicSync, ann), `connected(?!,)`, eventWait)
	shot(t, p, "console-phone.png")
	c.clean()
	p.clean()
}

// devToken is a token of a web party named name, in development mode's secret.
func devToken(sub, name, topic string) string {
	return jwttest.HS256(jwtSecret, map[string]any{"sub": sub, "name": name, "role": "member", "topics": []string{topic},
		"exp": time.Now().Add(time.Hour).Unix()})
}

// shot writes the page's screenshot to docs/img/name, for the README.
func shot(t *testing.T, c *consolePage, name string) {
	t.Helper()
	dir := filepath.Join(repoRoot(), "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.do("screenshot", fmt.Sprintf("await page.screenshot({ path: %s, fullPage: true });", q(filepath.Join(dir, name))))
}

// TestConsoleSignIn: in production mode a refused token says why in an alert; an admin's is
// accepted; a member sees the same parties with no control at all; nothing of development
// mode is there.
func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	env["DIALIN_ROOMS_FILE"] = writeFile(t, t.TempDir(), "rooms.json", consoleRooms)
	env["DIALIN_SPEAKING"] = "true"
	b := startBridge(t, env)
	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	br := startBrowserArgs(t, "120")

	c := openConsole(t, br, "admin", b.URL+"/console", 1280, 900)
	c.do("type a bad token", "await page.getByLabel('Token', { exact: true }).fill('not.a.token');")
	c.click("Sign in", "page.getByRole('button', { name: 'Sign in', exact: true })")
	c.waitText("refusal", "page.getByRole('alert')", `^Sign-in refused: .*token`, eventWait)
	expired := jwttest.HS256(jwtSecret, map[string]any{"sub": "old", "role": "admin", "topics": []string{"*"}, "exp": time.Now().Add(-time.Minute).Unix()})
	c.do("type an expired token", "await page.getByLabel('Token', { exact: true }).fill("+q(expired)+");")
	c.do("Enter", "await page.getByLabel('Token', { exact: true }).press('Enter');")
	c.waitText("refusal", "page.getByRole('alert')", `^Sign-in refused: .*expired`, eventWait)

	c.do("type an admin token", "await page.getByLabel('Token', { exact: true }).fill("+q(token("ops", "admin", topicA, lobbyTopic))+");")
	c.click("Sign in", "page.getByRole('button', { name: 'Sign in', exact: true })")
	c.waitText("John Smith", phoneParty(topicSync, "John Smith"), `connected`, eventWait)
	if n := c.num("regions", "return await page.getByRole('region').count();"); n != 2 {
		t.Errorf("%d topic regions; want the 2 the token grants", n)
	}
	for _, name := range []string{"Mute", "Hold", "Remove"} {
		if n := c.num(name, "return await "+button(phoneParty(topicSync, "John Smith"), name)+".count();"); n != 1 {
			t.Errorf("the admin sees %d %q buttons on John Smith; want 1", n, name)
		}
	}
	for _, name := range []string{"Simulate a call", "Hang up"} {
		if n := c.num(name, "return await page.getByRole('button', { name: "+q(name)+" }).count();"); n != 0 {
			t.Errorf("production mode shows %d %q buttons; want none", n, name)
		}
	}
	if n := c.num("alert cleared", "return await page.getByRole('alert').filter({ hasText: 'refused' }).count();"); n != 0 {
		t.Errorf("the refusal is still shown after signing in")
	}

	m := openConsole(t, br, "member", b.URL+"/console", 1280, 900)
	m.do("type a member token", "await page.getByLabel('Token', { exact: true }).fill("+q(token("amy", "member", topicA))+");")
	m.click("Sign in", "page.getByRole('button', { name: 'Sign in', exact: true })")
	m.waitText("John Smith", phoneParty(topicSync, "John Smith"), `connected`, eventWait)
	b.mustPost("/twilio/conference", confForm("participant-speech-start", confSID(1), topicA, 2, callSID(1)), 204)
	m.waitText("speaking", phoneParty(topicSync, "John Smith"), `connected, speaking`, eventWait)
	c.waitText("speaking", phoneParty(topicSync, "John Smith"), `connected, speaking`, eventWait)
	if n := m.num("controls", "return await "+region(topicSync)+".getByRole('button').count() + await "+region(topicSync)+".getByRole('textbox').count();"); n != 0 {
		t.Errorf("a member sees %d controls in the topic; want none (read-only)", n)
	}
	b.mustPost("/twilio/conference", confForm("participant-leave", confSID(1), topicA, 3, callSID(1)), 204)
	m.gone("John Smith leaves", phoneParty(topicSync, "John Smith"), eventWait)
	m.waitText("reason", region(topicSync), `John Smith left: hung up`, time.Second)
	m.click("Sign out", "page.getByRole('button', { name: 'Sign out', exact: true })")
	m.waitText("signed out", "page.getByRole('status')", `Signed out`, time.Second)
	if n := m.num("stored token", "return await page.evaluate(() => sessionStorage.length && sessionStorage.getItem('dialin.console.token') ? 1 : 0);"); n != 0 {
		t.Errorf("the token is still stored after Sign out")
	}
	c.clean()
	m.clean()
}

// TestConsoleDevOnly: outside development mode the simulator's endpoints do not exist, and
// the console is served with its strict policy.
func TestConsoleDevOnly(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	admin := token("ops", "admin", "*")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/dev"},
		{"POST", "/api/dev/topics/" + topicA + "/calls"},
		{"POST", "/api/dev/calls/" + callSID(1) + "/hangup"},
	} {
		req, _ := http.NewRequest(r.method, b.URL+r.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s outside development mode: %d; want 404", r.method, r.path, resp.StatusCode)
		}
	}
	if logs := b.LogsWritten(); strings.Contains(logs, "simulated") {
		t.Errorf("production mode logs mention the simulator:\n%s", logs)
	}
	r := b.get("/console", "")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET /console: %d, CSP %q; want 200 and default-src 'self'", r.Status, r.Header.Get("Content-Security-Policy"))
	}
}

// TestConsoleBundleIsNPMs: the socket.io bundle the bridge serves is, byte for byte, the
// dist/socket.io.js of the socket.io-client the e2e clients use (npm), and its licence is
// served beside it.
func TestConsoleBundleIsNPMs(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	want, err := os.ReadFile(filepath.Join(testDir(), "node_modules", "socket.io-client", "dist", "socket.io.js"))
	if err != nil {
		t.Fatal(err)
	}
	if r := b.get("/console/socket.io.js", ""); r.Status != 200 || !bytes.Equal([]byte(r.Body), want) {
		t.Errorf("GET /console/socket.io.js: %d, %d bytes; want npm's %d bytes", r.Status, len(r.Body), len(want))
	}
	lic, _ := os.ReadFile(filepath.Join(testDir(), "node_modules", "socket.io-client", "LICENSE"))
	if r := b.get("/console/socket.io-client.LICENSE", ""); r.Status != 200 || r.Body != string(lic) {
		t.Errorf("GET /console/socket.io-client.LICENSE: %d; want npm's licence", r.Status)
	}
}

// TestConsoleFirefox: the console in Debian's firefox-esr (driven by puppeteer-core over
// WebDriver BiDi, see firefox.js): a simulated call appears within a second; mute and hold
// show after Twilio's (simulated) callbacks; a dial-out with a hostile name rings, then joins,
// shown as written; remove shows its reason; a lobby caller is admitted; Tab reaches a
// party's button with a visible focus and Enter presses it; the page fits 375 px; no script
// error, no CSP violation, no dialog.
func TestConsoleFirefox(t *testing.T) {
	t.Parallel()
	b := startBridge(t, devConsoleEnv(t))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(testDir(), "firefox.js"), b.URL)
	cmd.Dir = testDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("firefox.js: %v (is firefox-esr installed? scripts/test.sh installs it)\n%s", err, stderr.String())
	}
	var r struct {
		Version, Failed, Simulated, Muted, Held, Ringing, Joined, Admitted, KeyboardMuted, Outline string
		Errors                                                                                     []string
		Dialogs, AppearedMs, Images, Tabs, NarrowWidth                                             int
		Removed                                                                                    bool
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("firefox.js printed %q: %v\n%s", stdout, err, stderr.String())
	}
	t.Logf("Firefox %s", r.Version)
	if r.Failed != "" {
		t.Fatalf("in Firefox: %s\nwhat the page showed: %+v\n%s", r.Failed, r, stderr.String())
	}
	if r.AppearedMs > 1000 {
		t.Errorf("the simulated call appeared after %d ms; want within a second", r.AppearedMs)
	}
	checks := []struct{ what, got, want string }{
		{"simulated call", r.Simulated, "connected"},
		{"after Mute", r.Muted, "connected, muted"},
		{"after Hold", r.Held, "connected, muted, on hold"},
		{"dial-out ringing", r.Ringing, hostile + "\nringing"},
		{"dial-out joined", r.Joined, hostile + "\nconnected"},
		{"admitted", r.Admitted, "connected"},
		{"muted by keyboard", r.KeyboardMuted, "connected, muted"},
	}
	for _, c := range checks {
		if !strings.Contains(c.got, c.want) {
			t.Errorf("%s: the party shows %q; want %q in it", c.what, c.got, c.want)
		}
	}
	if !r.Removed || r.Images != 0 || r.Tabs == 0 || !strings.HasPrefix(r.Outline, "solid") || r.Outline == "solid 0px" {
		t.Errorf("removed %v, %d img elements, Tab reached Mute after %d presses, focus outline %q; want removed, 0, >0, visible",
			r.Removed, r.Images, r.Tabs, r.Outline)
	}
	if r.NarrowWidth > 375 {
		t.Errorf("at 375 px the page is %d px wide", r.NarrowWidth)
	}
	if len(r.Errors) != 0 || r.Dialogs != 0 {
		t.Errorf("Firefox reported errors %q and %d dialogs; want none", r.Errors, r.Dialogs)
	}
}
