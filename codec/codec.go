// Package codec keeps patient data out of Temporal's plaintext history: an AES-256-GCM
// converter.PayloadCodec that every Temporal client and worker of the system installs, so
// workflow inputs, results, signals, updates, queries and activity arguments reach the
// Temporal server (and its database) only as ciphertext.
//
// Each encrypted payload names the key that sealed it in its metadata
// ("encryption-key-id"), so keys rotate without re-encrypting history: new payloads use the
// newest key, and every configured key still decrypts. Codec's Decode passes payloads that
// are not encrypted through unchanged (for the Web UI's codec endpoint and for replaying
// histories recorded before encryption); the clients and the worker decode through a Guard
// instead, which refuses them: a payload the system did not seal is a forgery.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload. The names follow Temporal's encryption sample, so other
// tools that know that convention recognise the payloads.
const (
	// MetadataEncoding is the standard payload metadata key naming the encoding.
	MetadataEncoding = converter.MetadataEncoding
	// EncodingEncrypted marks a payload sealed by this codec.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that sealed the payload.
	MetadataKeyID = "encryption-key-id"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Key is one named AES-256 key.
type Key struct {
	// ID names the key in the metadata of the payloads it seals.
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// ParseKeys reads keys in the PYXIS_CODEC_KEYS format: comma-separated "id:base64key" pairs,
// the newest LAST, for example "2025a:<base64>,2026a:<base64>". A key is 32 bytes, in standard
// or URL-safe base64, padded or not. Ids are 1 to 64 letters, digits, '.', '_' or '-', and
// unique. An empty spec gives no keys.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("key %d: want id:base64key", i+1)
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("key %d: id %q must be 1 to 64 letters, digits, '.', '_' or '-'", i+1, id)
		}
		if seen[id] {
			return nil, fmt.Errorf("key %d: id %q appears twice", i+1, id)
		}
		seen[id] = true
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("key %q: not base64", id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("key %q: %d bytes; AES-256 needs %d", id, len(secret), KeySize)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// FormatKeys writes keys in the PYXIS_CODEC_KEYS format that ParseKeys reads.
func FormatKeys(keys []Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
	}
	return strings.Join(parts, ",")
}

// GenerateKey returns a new random key with the given id.
func GenerateKey(id string) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("key id %q must be 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: secret}, nil
}

// Codec is an AES-256-GCM converter.PayloadCodec. It is safe for concurrent use.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec that encrypts with the last key and decrypts with any of them.
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("codec: bad key id %q", k.ID)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("codec: key id %q appears twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes; AES-256 needs %d", k.ID, len(k.Secret), KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	c.current = keys[len(keys)-1].ID
	return c, nil
}

// KeyID returns the id of the key new payloads are sealed with.
func (c *Codec) KeyID() string { return c.current }

// Encode seals each payload, metadata and data together, with the current key. The key id is
// also the GCM additional data, so a payload relabelled with another key id fails to open.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode opens each payload this codec sealed, with the key its metadata names. Payloads of
// any other encoding are returned as they are, so unencrypted history still reads (the codec
// endpoint of the Web UI, replays of old histories). What the worker accepts goes through a
// Guard instead, which refuses them.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		d, _, err := c.open(p)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// open decrypts one payload sealed by a codec; on failure it also says why, as one of the
// Refused... reasons.
func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, string, error) {
	kid := string(p.GetMetadata()[MetadataKeyID])
	aead, ok := c.aeads[kid]
	if !ok {
		return nil, RefusedUnknownKey, fmt.Errorf("codec: payload sealed with key %q, which is not configured", kid)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, RefusedDoesNotOpen, errors.New("codec: encrypted payload is too short")
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(kid))
	if err != nil {
		return nil, RefusedDoesNotOpen, fmt.Errorf("codec: payload sealed with key %q does not open: it was altered or the key is wrong", kid)
	}
	var decoded commonpb.Payload
	if err := proto.Unmarshal(plain, &decoded); err != nil {
		return nil, RefusedDoesNotOpen, fmt.Errorf("codec: decrypted payload: %w", err)
	}
	return &decoded, "", nil
}

// NewDataConverter wraps Temporal's default data converter with c.
func NewDataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// DataConverter returns Temporal's default data converter wrapped with a codec over keys.
// Install it as client.Options.DataConverter on every client; workers use their client's.
func DataConverter(keys []Key) (converter.DataConverter, error) {
	c, err := New(keys)
	if err != nil {
		return nil, err
	}
	return NewDataConverter(c), nil
}
