package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// forcedRefreshGap is the minimum time between two refreshes forced by
// tokens with an unknown kid, so a flood of such tokens costs the JWKS
// server at most one request per gap.
const forcedRefreshGap = 30 * time.Second

// maxJWKSBytes bounds the JWKS response body. A 2048-bit RSA public JWK is
// about 450 bytes, so the limit leaves room for thousands of keys.
const maxJWKSBytes = 1 << 20

// maxRefreshCheck is the longest time between two checks of the cache for
// due refreshes, so a refresh happens at most this long after it is due.
const maxRefreshCheck = time.Minute

// keySet is the JWKS of one URL, cached by jwk.Cache and refreshed in the
// background and on demand.
//
// A forced refresh starts a new jwk.Cache and stops the old one instead of
// calling Refresh on it. In httprc v1.0.6, which jwk.Cache of jwx v2.1.7
// uses, every fetch schedules the next background fetch, so each Refresh
// call would add one more periodic fetch of the URL for the life of the
// cache.
type keySet struct {
	// ctx bounds the life of every cache this keySet starts.
	ctx     context.Context
	url     string
	options []jwk.RegisterOption
	window  time.Duration
	now     func() time.Time

	current atomic.Pointer[cacheGeneration]

	// refreshSlot holds one token while a forced refresh is decided or
	// runs, and its holder owns lastForced and lastForcedErr. A channel,
	// unlike a mutex, lets a waiting request give up when its context ends.
	refreshSlot   chan struct{}
	lastForced    time.Time
	lastForcedErr error
}

// cacheGeneration is one jwk.Cache and the function that stops its
// background refresh.
type cacheGeneration struct {
	cache *jwk.Cache
	stop  context.CancelFunc
}

// newKeySet fetches the key set at cfg.JWKSURL into a jwk.Cache that
// refreshes it in the background until ctx is cancelled.
func newKeySet(ctx context.Context, cfg Config) (*keySet, error) {
	k := &keySet{
		ctx: ctx,
		url: cfg.JWKSURL,
		options: []jwk.RegisterOption{
			jwk.WithMinRefreshInterval(cfg.JWKSRefreshInterval),
			jwk.WithHTTPClient(limitedClient{client: cfg.HTTPClient}),
			// Fetch only the configured URL, whatever a key set contains.
			jwk.WithFetchWhitelist(jwk.NewMapWhitelist().Add(cfg.JWKSURL)),
		},
		// The cache looks for due refreshes once per window, so a window
		// longer than the interval would delay refreshes.
		window:      min(cfg.JWKSRefreshInterval, maxRefreshCheck),
		now:         cfg.Now,
		refreshSlot: make(chan struct{}, 1),
	}

	generation, set, err := k.startCache(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS from %s: %w", redactURL(cfg.JWKSURL), err)
	}
	if !hasSigningKey(set) {
		generation.stop()
		return nil, fmt.Errorf("JWKS at %s contains no RSA or EC signing key", redactURL(cfg.JWKSURL))
	}
	k.current.Store(generation)

	return k, nil
}

// startCache starts a jwk.Cache for the URL and fetches the key set once.
// ctx bounds that fetch, while k.ctx bounds the cache's life.
//
// NOTE: errors of background refreshes are dropped. The cache keeps the
// last good set, and only a forced refresh reports its error, wrapped in
// ErrKeySetUnavailable.
func (k *keySet) startCache(ctx context.Context) (*cacheGeneration, jwk.Set, error) {
	cacheCtx, stop := context.WithCancel(k.ctx)
	cache := jwk.NewCache(cacheCtx, jwk.WithRefreshWindow(k.window))

	if err := cache.Register(k.url, k.options...); err != nil {
		stop()
		return nil, nil, fmt.Errorf("registering the URL: %w", err)
	}
	set, err := cache.Refresh(ctx, k.url)
	if err != nil {
		stop()
		return nil, nil, err
	}

	return &cacheGeneration{cache: cache, stop: stop}, set, nil
}

// candidates returns the public keys that may have signed a token with
// this kid and alg. A token with a kid uses the keys with that kid, or the
// keys without a kid when no key has it. A token without a kid tries every
// key whose type and alg fit. When no key has the kid, or none fits a
// token without a kid, the set is refreshed once (rate-limited) first, so
// a rotated key is found before the next background refresh.
func (k *keySet) candidates(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) ([]jwk.Key, error) {
	set, err := k.current.Load().cache.Get(ctx, k.url)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the cached key set: %w", ErrKeySetUnavailable, err)
	}

	keys, kidFound := selectKeys(set, kid, alg)
	needRefresh := (kid != "" && !kidFound) || (kid == "" && len(keys) == 0)
	if needRefresh {
		set, err = k.refreshRateLimited(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: no cached key fits kid %s and algorithm %s, and refreshing the key set failed: %w",
				ErrKeySetUnavailable, quoteValue(kid), alg, err)
		}
		keys, _ = selectKeys(set, kid, alg)
	}

	if len(keys) == 0 {
		if kid == "" {
			return nil, invalidToken("no key in the key set fits algorithm %s", alg)
		}
		return nil, invalidToken("no key with kid %s fits algorithm %s", quoteValue(kid), alg)
	}

	return keys, nil
}

// refreshRateLimited fetches the key set anew and returns it. Within
// forcedRefreshGap of the last forced refresh it returns that refresh's
// error, or else the cached set, which the refresh may have just replaced.
func (k *keySet) refreshRateLimited(ctx context.Context) (jwk.Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A cache started after New's context ended has no fetch workers, so
	// its fetch would wait until ctx ends.
	if err := k.ctx.Err(); err != nil {
		return nil, fmt.Errorf("key set cache stopped: %w", err)
	}
	select {
	case k.refreshSlot <- struct{}{}:
		defer func() { <-k.refreshSlot }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	now := k.now()
	if !k.lastForced.IsZero() && now.Sub(k.lastForced) < forcedRefreshGap {
		if k.lastForcedErr != nil {
			return nil, k.lastForcedErr
		}
		return k.current.Load().cache.Get(ctx, k.url)
	}
	k.lastForced = now

	generation, set, err := k.startCache(ctx)
	k.lastForcedErr = err
	if err != nil && ctx.Err() != nil {
		// The request gave up, which tells nothing about the JWKS server.
		// The attempt still counts against the gap, because its fetch may
		// still be running.
		k.lastForcedErr = nil
	}
	if err != nil {
		return nil, err
	}
	previous := k.current.Swap(generation)
	previous.stop()

	return set, nil
}

// selectKeys returns the public keys of set that fit alg for a token with
// kid, and whether any key carries that kid.
func selectKeys(set jwk.Set, kid string, alg jwa.SignatureAlgorithm) (keys []jwk.Key, kidFound bool) {
	var withoutKID []jwk.Key
	for i := range set.Len() {
		key, _ := set.Key(i)
		if kid != "" && key.KeyID() == kid {
			kidFound = true
		}
		if !keyFits(key, alg) {
			continue
		}

		switch {
		case kid == "" || key.KeyID() == kid:
			keys = append(keys, key)
		case key.KeyID() == "":
			withoutKID = append(withoutKID, key)
		}
	}
	if kid != "" && !kidFound {
		keys = withoutKID
	}

	return publicKeys(keys), kidFound
}

// keyFits reports whether key can verify a signature made with alg: its
// type and curve match, and its optional `alg` and `use` do not contradict.
func keyFits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if keyAlg := key.Algorithm().String(); keyAlg != "" && keyAlg != alg.String() {
		return false
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return false
	}

	switch alg {
	case jwa.RS256, jwa.RS384, jwa.RS512:
		return key.KeyType() == jwa.RSA
	case jwa.ES256:
		return curveOf(key) == jwa.P256
	case jwa.ES384:
		return curveOf(key) == jwa.P384
	case jwa.ES512:
		return curveOf(key) == jwa.P521
	default:
		return false
	}
}

// curveOf returns the curve of an EC key, or "" for other key types.
func curveOf(key jwk.Key) jwa.EllipticCurveAlgorithm {
	switch ec := key.(type) {
	case jwk.ECDSAPublicKey:
		return ec.Crv()
	case jwk.ECDSAPrivateKey:
		return ec.Crv()
	default:
		return ""
	}
}

// publicKeys drops the private part of keys, in case a key set publishes
// private keys by mistake. Keys that fail to convert are left out.
func publicKeys(keys []jwk.Key) []jwk.Key {
	public := make([]jwk.Key, 0, len(keys))
	for _, key := range keys {
		pub, err := key.PublicKey()
		if err != nil {
			continue
		}
		public = append(public, pub)
	}

	return public
}

// hasSigningKey reports whether set holds at least one key that some
// accepted algorithm can use.
func hasSigningKey(set jwk.Set) bool {
	algorithms := []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.ES256, jwa.ES384, jwa.ES512}
	for i := range set.Len() {
		key, _ := set.Key(i)
		for _, alg := range algorithms {
			if keyFits(key, alg) {
				return true
			}
		}
	}

	return false
}

// limitedClient fetches the JWKS with the configured client, reads at most
// maxJWKSBytes of the body and closes it. jwk.Cache (jwx v2.1.7) reads the
// body it gets without a limit and does not close it.
type limitedClient struct {
	client *http.Client
}

// Get implements jwk.HTTPClient.
func (c limitedClient) Get(url string) (*http.Response, error) {
	res, err := c.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()

	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS response: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS response exceeds %d bytes", maxJWKSBytes)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))

	return res, nil
}
