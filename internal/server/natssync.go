package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// varzSubject asks every server of a NATS system for its /varz; only the
// system account may ask.
const varzSubject = "$SYS.REQ.SERVER.PING.VARZ"

// externalSync describes the fsync setting of the external JetStream
// servers nc reaches, asking them through the system account, or says why
// it cannot.
func externalSync(nc *nats.Conn, wait time.Duration) string {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return unknownSync
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(varzSubject, inbox, nil); err != nil {
		return unknownSync
	}
	settings := map[string][]string{} // setting -> servers
	deadline := time.Now().Add(wait)
	for {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			break // no responders: this account may not ask
		}
		var resp struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Data struct {
				JetStream struct {
					Config *struct {
						SyncInterval time.Duration `json:"sync_interval"`
						SyncAlways   bool          `json:"sync_always"`
					} `json:"config"`
				} `json:"jetstream"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &resp) != nil || resp.Data.JetStream.Config == nil {
			continue
		}
		cfg := resp.Data.JetStream.Config
		setting := "fsync before every acknowledgement"
		if !cfg.SyncAlways {
			iv := cfg.SyncInterval
			if iv == 0 {
				iv = 2 * time.Minute // the server's default
			}
			setting = "fsync every " + iv.String()
		}
		settings[setting] = append(settings[setting], resp.Server.Name)
	}
	if len(settings) == 0 {
		return unknownSync
	}
	var parts []string
	for setting, servers := range settings {
		slices.Sort(servers)
		parts = append(parts, fmt.Sprintf("%s on %s", setting, strings.Join(servers, ", ")))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

const unknownSync = "its fsync setting could not be read (that takes the NATS system account); NATS's default is every 2 minutes"
