package publisher

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

// mint builds a JWT independently of golang-jwt.
func mint(t *testing.T, alg string, key any, claims map[string]any) string {
	t.Helper()
	tok, err := jwttest.Sign(alg, key, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func claims(exp time.Duration) map[string]any {
	return map[string]any{"sub": "u1", "name": "Ann", "topics": []string{"t1"}, "role": "admin", "exp": time.Now().Add(exp).Unix()}
}

// TestAuth: HS256 with the secret, RS256 and ES256 with the public key file; expired,
// unsigned, wrongly keyed and algorithm-swapped tokens are refused.
func TestAuth(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	secret := []byte("hs256-secret")
	rsaAuth, err := NewAuth(nil, publicPEM(t, &rsaKey.PublicKey), false)
	if err != nil {
		t.Fatal(err)
	}
	ecAuth, err := NewAuth(nil, publicPEM(t, &ecKey.PublicKey), false)
	if err != nil {
		t.Fatal(err)
	}
	hsAuth, _ := NewAuth(secret, nil, false)
	rsaPEM := publicPEM(t, &rsaKey.PublicKey)

	tests := []struct {
		name  string
		auth  *Auth
		token string
		ok    bool
	}{
		{"HS256", hsAuth, mint(t, "HS256", secret, claims(time.Hour)), true},
		{"RS256", rsaAuth, mint(t, "RS256", rsaKey, claims(time.Hour)), true},
		{"ES256", ecAuth, mint(t, "ES256", ecKey, claims(time.Hour)), true},
		{"RS256 other key", rsaAuth, mint(t, "RS256", otherRSA, claims(time.Hour)), false},
		{"expired", rsaAuth, mint(t, "RS256", rsaKey, claims(-time.Minute)), false},
		{"HS256 keyed with the public key (algorithm confusion)", rsaAuth, mint(t, "HS256", rsaPEM, claims(time.Hour)), false},
		{"HS256 without a secret configured", rsaAuth, mint(t, "HS256", secret, claims(time.Hour)), false},
		{"empty", hsAuth, "", false},
		{"garbage", hsAuth, "a.b.c", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.auth.Verify(tc.token)
			if tc.ok && (err != nil || c == nil || c.Subject != "u1" || c.Role != RoleAdmin || !c.Grants("t1") || c.Grants("t2")) {
				t.Fatalf("Verify: %+v %v; want u1, admin, granting t1 only", c, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Verify accepted %s", tc.name)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
	if _, err := NewAuth(nil, []byte("not pem"), false); err == nil {
		t.Error("NewAuth accepted a key file without PEM")
	}
}
