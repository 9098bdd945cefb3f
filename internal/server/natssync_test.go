package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// startNATS runs a NATS server from a configuration file's text; %s in it
// is replaced by a fresh JetStream directory.
func startNATS(t *testing.T, conf string) *natsserver.Server {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, conf, filepath.Join(dir, "js")), 0o600))
	opts, err := natsserver.ProcessConfigFile(path)
	require.NoError(t, err)
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := natsserver.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(10*time.Second))
	return s
}

// An account that may ask the system for its servers' settings learns the
// fsync interval; one that may not is told so.
func TestExternalSyncReportsTheServersSetting(t *testing.T) {
	t.Parallel()
	s := startNATS(t, `
server_name: n1
jetstream { store_dir: %q, sync_interval: 7s }
accounts {
  SYS: { users: [{user: sys, password: sys}], exports: [{service: "$SYS.REQ.SERVER.PING.VARZ"}] }
  APP: { jetstream: enabled, users: [{user: app, password: app}], imports: [{service: {account: SYS, subject: "$SYS.REQ.SERVER.PING.VARZ"}}] }
  OTHER: { jetstream: enabled, users: [{user: other, password: other}] }
}
system_account: SYS
`)
	for _, tt := range []struct{ user, want string }{
		{"app", "fsync every 7s on n1"},
		{"other", unknownSync},
	} {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(tt.user, tt.user))
		require.NoError(t, err)
		start := time.Now()
		require.Equal(t, tt.want, externalSync(nc, 5*time.Second), tt.user)
		if tt.want == unknownSync {
			require.Less(t, time.Since(start), 4*time.Second, "no responders: answered without waiting it out")
		}
		nc.Close()
	}
}
