// Package durability holds Ensue's end-to-end durability tests, and nothing
// else: they prove that an acknowledged event is never lost or doubled when
// the server process is killed (SIGKILL), stopped (SIGTERM) or restarted, or
// when its derived index is deleted.
//
// The server runs as a separate OS process so that it can really be killed:
// the test binary re-executes itself with ENSUE_DURABILITY_CHILD=1, and its
// TestMain then runs an Ensue server instead of the tests (see
// child_test.go). Clients talk to it over HTTP on the loopback interface
// only, as any producer would.
//
// The tests may import any Ensue package; nothing imports this one.
package durability
