package publisher

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a token may carry.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleGuest  = "guest"
)

// ErrBadToken marks a missing, malformed, expired or wrongly signed token.
var ErrBadToken = errors.New("invalid token")

// Claims are what a room-client token says of its bearer.
type Claims struct {
	Name   string   `json:"name,omitempty"`
	Topics []string `json:"topics"`
	Role   string   `json:"role"`
	jwt.RegisteredClaims
}

// Grants reports whether the bearer may subscribe to topicID.
func (c *Claims) Grants(topicID string) bool {
	return topicID != "" && (slices.Contains(c.Topics, "*") || slices.Contains(c.Topics, topicID))
}

// Auth verifies room-client tokens: HS256 with a shared secret, or RS256/ES256 with a public
// key, whichever is configured.
type Auth struct {
	secret []byte
	public crypto.PublicKey
	dev    bool
}

// NewAuth returns an Auth. publicKeyPEM may be empty. In dev mode, expiry is optional and a
// missing token is allowed (see Verify).
func NewAuth(secret []byte, publicKeyPEM []byte, dev bool) (*Auth, error) {
	a := &Auth{secret: secret, dev: dev}
	if len(publicKeyPEM) > 0 {
		block, _ := pem.Decode(publicKeyPEM)
		if block == nil {
			return nil, errors.New("public key file holds no PEM block")
		}
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		a.public = key
	}
	return a, nil
}

// LoadPublicKey reads a PEM public key file.
func LoadPublicKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	return b, nil
}

// Anonymous are the claims of a tokenless client in dev mode: any topic, admin, so that the
// whole protocol can be tried by hand.
func Anonymous(id string) *Claims {
	return &Claims{
		Name:             "Developer",
		Topics:           []string{"*"},
		Role:             RoleAdmin,
		RegisteredClaims: jwt.RegisteredClaims{Subject: id},
	}
}

// Verify checks a token and returns its claims. In dev mode an empty token yields nil claims
// and no error; the caller decides what that means.
func (a *Auth) Verify(token string) (*Claims, error) {
	if token == "" {
		if a.dev {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: no token", ErrBadToken)
	}
	var methods []string
	if a.secret != nil {
		methods = append(methods, "HS256")
	}
	if a.public != nil {
		methods = append(methods, "RS256", "ES256")
	}
	if len(methods) == 0 {
		if a.dev {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: no key configured", ErrBadToken)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods)}
	if !a.dev {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			return a.secret, nil
		}
		return a.public, nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrBadToken)
	}
	switch c.Role {
	case RoleAdmin, RoleMember, RoleGuest:
	case "":
		c.Role = RoleGuest
	default:
		return nil, fmt.Errorf("%w: unknown role", ErrBadToken)
	}
	return &c, nil
}
