package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret so it is recognisable in
// configuration and in leaked-secret scanners.
const secretPrefix = "whsec_"

// minSecretBytes is the smallest key the Standard Webhooks spec allows (192
// bits); anything shorter is too easy to brute-force.
const minSecretBytes = 24

// DefaultTolerance is how far a signed timestamp may be from the receiver's
// clock when Verify is given no tolerance: the spec's recommendation, wide
// enough for clock skew and retries in flight, narrow enough to limit replays.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped with detail), for receivers that answer
// differently to a stale message and a forged one.
var (
	ErrMissingHeader = errors.New("webhook: missing header")
	ErrTimestamp     = errors.New("webhook: timestamp outside tolerance")
	ErrSignature     = errors.New("webhook: no matching signature")
)

// Sign returns the Standard Webhooks signature ("v1,<base64 HMAC-SHA256>") of
// body sent as message msgID at ts. The MAC covers "id.timestamp.body", so a
// signature cannot be replayed onto another message or time.
func Sign(secret []byte, msgID string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, msgID, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, msgID, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Standard Webhooks message as a receiver would: the three
// webhook-* headers are present, the timestamp is within tolerance of now
// (DefaultTolerance when tolerance <= 0), and one of the space-separated
// signatures is a v1 signature of body under secret. Signatures of other
// versions are skipped, so senders can rotate schemes or keys by sending
// several at once.
func Verify(secret []byte, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, hv := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if hv.value == "" {
			return fmt.Errorf("%w %s", ErrMissingHeader, hv.name)
		}
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrTimestamp, HeaderTimestamp, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts := time.Unix(secs, 0)
	if skew := now.Sub(ts); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s is %s from now, tolerance %s", ErrTimestamp, HeaderTimestamp, skew.Round(time.Second), tolerance)
	}
	want := mac(secret, id, tsText, body)
	for sig := range strings.FieldsSeq(sigs) {
		version, encoded, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w among %q for message %q", ErrSignature, sigs, id)
}

// ParseSecret decodes a "whsec_<base64>" secret into key bytes. Errors say
// what is wrong and where, since secrets are pasted into configuration by hand.
func ParseSecret(s string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook secret must start with %q (a Standard Webhooks secret, as GenerateSecret makes)", secretPrefix)
	}
	if encoded == "" {
		return nil, fmt.Errorf("webhook secret has nothing after %q", secretPrefix)
	}
	// encoding/base64 silently skips CR and LF; a secret with a line break in
	// it is a copy-paste accident, not a key.
	if i := strings.IndexAny(encoded, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("webhook secret has a line break at byte %d: paste it on one line", len(secretPrefix)+i)
	}
	// Strict, so that exactly one text encodes a key and the secret printed
	// back is the one given.
	key, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, fmt.Errorf("webhook secret is not standard base64 after %q: bad input at byte %d", secretPrefix, len(secretPrefix)+int(corrupt))
		}
		return nil, fmt.Errorf("webhook secret is not standard base64 after %q: %w", secretPrefix, err)
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("webhook secret is %d bytes, need at least %d: make a new one with GenerateSecret", len(key), minSecretBytes)
	}
	return key, nil
}

// GenerateSecret makes a new "whsec_" secret of 32 random bytes.
func GenerateSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: generate secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}
