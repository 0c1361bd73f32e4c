// Package jwttest mints room-client tokens for tests and the load tool, with the standard
// library only, independently of the golang-jwt code that verifies them.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Sign returns a JWT of claims, whose header names alg, signed with key: a []byte HMAC
// secret (HS256), an *rsa.PrivateKey (RS256) or an *ecdsa.PrivateKey on P-256 (ES256). The
// header's alg is not checked against the key, so tests can mint confused tokens.
func Sign(alg string, key any, claims map[string]any) (string, error) {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	var sig []byte
	switch k := key.(type) {
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(signing))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", err
		}
		sig = append(pad32(r), pad32(s)...)
	default:
		return "", fmt.Errorf("jwttest: no signing with a %T", key)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// HS256 returns an HS256 token of claims signed with secret.
func HS256(secret string, claims map[string]any) string {
	tok, _ := Sign("HS256", []byte(secret), claims) // HMAC signing cannot fail
	return tok
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	return append(make([]byte, 32-len(b)), b...)
}
