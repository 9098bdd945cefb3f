// Package webhook delivers a flow's HTTP action: one request sent until it
// succeeds, fails finally, or its caller gives up.
//
// It owns what happens on the wire and between attempts: the headers every
// attempt carries (Idempotency-Key, User-Agent, and the Standard Webhooks
// webhook-id, webhook-timestamp and webhook-signature), classifying answers
// (2xx success; 4xx final except 408 and 429; 5xx, timeouts and transport
// errors retried), backoff with full jitter or a fixed delay, Retry-After, a
// circuit breaker per host, and turning a bounded response into the step's
// JSON output. It also signs and verifies Standard Webhooks signatures and
// parses their "whsec_" secrets, for receivers and tests.
//
// It does not own durability: the caller records each Attempt it is handed
// (onAttempt) and, after a restart, says how many attempts were already made,
// so numbering and the attempts budget survive crashes. Nothing here knows
// about flows, runs or the log.
//
// Every wait (backoff, Retry-After, an open circuit, the per-attempt timeout)
// goes through an injected clock.Clock, so tests drive time by hand.
//
// It imports only the standard library and internal/clock.
package webhook
