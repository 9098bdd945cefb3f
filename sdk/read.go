package sdk

import (
	"context"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// EndOfLog, as Query.After, starts a subscription at the end of the log:
// only events recorded from then on are delivered. Events ignores it.
const EndOfLog int64 = -1

// Query selects records of the log. The zero Query selects every record from
// the beginning of the log.
type Query struct {
	// After is the position to read after: only records with a greater
	// position are returned. 0 reads from the beginning; for Subscribe,
	// EndOfLog starts at the end.
	After int64
	// Limit is the most records a page holds (1 to 1000); 0 means the
	// server's default, 100. Subscribe ignores it.
	Limit int
	// Type selects one event type, or a prefix when it ends with "*"
	// ("order.*").
	Type string
	// Source selects one event source.
	Source string
	// Subject selects one subject (stream).
	Subject string
	// CorrelationID selects events whose "correlationid" extension is this.
	CorrelationID string
	// Since and Until bound the records' recorded time; zero means unbounded.
	Since, Until time.Time
}

func (q Query) values(withAfter, withLimit bool) url.Values {
	v := url.Values{}
	if withAfter && q.After >= 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if withLimit && q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("type", q.Type)
	set("source", q.Source)
	set("subject", q.Subject)
	set("correlationid", q.CorrelationID)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	return v
}

// Page is one page of records.
type Page struct {
	Records []Record `json:"records"`
	// Next is the position to pass as Query.After for the following page:
	// the highest position the server examined, which may be past the last
	// record when a filter skipped records.
	Next int64 `json:"next"`
}

// End reports whether p, read with Query.After set to after, is the end of
// the log for now: no records and no progress. A filtered page may be empty
// yet have moved Next on (the server bounds how much one read examines);
// reading on from Next then finds more.
func (p Page) End(after int64) bool {
	return len(p.Records) == 0 && p.Next <= after
}

// Get returns the record at a position, or an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, position int64) (Record, error) {
	var r Record
	err := c.do(ctx, "GET", "/v1/events/"+strconv.FormatInt(position, 10), nil, nil, "", &r)
	return r, err
}

// Lookup returns the record of the event with this source and id, or an
// error matching ErrNotFound.
func (c *Client) Lookup(ctx context.Context, source, id string) (Record, error) {
	var r Record
	q := url.Values{"source": {source}, "id": {id}}
	err := c.do(ctx, "GET", "/v1/events/lookup", q, nil, "", &r)
	return r, err
}

// Events returns one page of the records q selects, in log order. To read
// on, call it again with q.After set to the page's Next, until Page.End;
// Records does that for you.
func (c *Client) Events(ctx context.Context, q Query) (Page, error) {
	var p Page
	err := c.do(ctx, "GET", "/v1/events", q.values(true, true), nil, "", &p)
	return p, err
}

// Records iterates over every record q selects, in log order, reading page
// after page (of q.Limit records) until the end of the log as it is when the
// last page is read. It yields an error and stops if a page cannot be read.
// For records still to come, use Subscribe.
func (c *Client) Records(ctx context.Context, q Query) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if q.After < 0 {
			q.After = 0
		}
		for {
			page, err := c.Events(ctx, q)
			if err != nil {
				yield(Record{}, err)
				return
			}
			for _, rec := range page.Records {
				if !yield(rec, nil) {
					return
				}
			}
			if page.End(q.After) || page.Next <= q.After {
				return
			}
			q.After = page.Next
		}
	}
}

// StreamQuery selects records of one stream.
type StreamQuery struct {
	// From is the first version to return (inclusive); 0 means the first
	// version going forward and the last one going backward.
	From int64
	// Limit is the most records to return (1 to 1000); 0 means the server's
	// default.
	Limit int
	// Backward reads from From towards version 1.
	Backward bool
}

// StreamPage is part of a stream.
type StreamPage struct {
	// Stream is the stream's name.
	Stream string `json:"stream"`
	// Version is the stream's current version (0 for a stream with no events).
	Version int64 `json:"version"`
	// Records are in the direction asked for.
	Records []Record `json:"records"`
}

// Stream reads the records of the stream name (an event subject).
func (c *Client) Stream(ctx context.Context, name string, q StreamQuery) (StreamPage, error) {
	v := url.Values{}
	if q.From > 0 {
		v.Set("from", strconv.FormatInt(q.From, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Backward {
		v.Set("direction", "backward")
	}
	var p StreamPage
	err := c.do(ctx, "GET", "/v1/streams/"+url.PathEscape(name), v, nil, "", &p)
	return p, err
}

// Correlation returns every record whose "correlationid" extension is id, in
// log order.
func (c *Client) Correlation(ctx context.Context, id string) ([]Record, error) {
	var w struct {
		Records []Record `json:"records"`
	}
	err := c.do(ctx, "GET", "/v1/correlations/"+url.PathEscape(id), nil, nil, "", &w)
	return w.Records, err
}
