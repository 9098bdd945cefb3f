package schema

import (
	"container/list"
	"errors"
	"sync"
)

// DefaultCacheSize is the number of compiled schemas a Cache keeps when
// NewCache is given a size below 1.
const DefaultCacheSize = 1024

// Cache keeps compiled schemas by key (the registry uses
// "ns\x00type\x00version"), at most max of them, evicting the least recently
// used. It is safe for concurrent use, and compiles a key once however many
// goroutines ask for it at the same time.
//
// A failed compile is not kept: the next Get for the key tries again, so a
// registry that fixes a document (or a transient error in doc) heals by itself.
type Cache struct {
	max int

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front = most recently used
}

type cacheEntry struct {
	key    string
	done   chan struct{} // closed when schema and err are set
	schema *Schema
	err    error
}

// NewCache returns a cache of at most max compiled schemas (DefaultCacheSize
// when max < 1).
func NewCache(max int) *Cache {
	if max < 1 {
		max = DefaultCacheSize
	}
	return &Cache{max: max, entries: make(map[string]*list.Element)}
}

// Get returns the compiled schema for key, calling doc for the document and
// compiling it on a miss. Concurrent Gets of a missing key wait for the one
// compile. Errors of doc are returned as they are; compile errors are
// *CompileError.
func (c *Cache) Get(key string, doc func() ([]byte, error)) (*Schema, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		<-e.done
		return e.schema, e.err
	}
	e := &cacheEntry{key: key, done: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.mu.Unlock()

	c.fill(e, doc)
	return e.schema, e.err
}

// Len returns how many schemas the cache holds (compiles in flight count).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// errDocPanicked is what waiters get when doc or Compile panicked in the
// goroutine that was filling the entry (the panic itself goes on up there).
var errDocPanicked = errors.New("schema: loading the schema document panicked")

// fill compiles the entry's schema. Whatever happens, waiters are released,
// and a failure is not cached.
func (c *Cache) fill(e *cacheEntry, doc func() ([]byte, error)) {
	e.err = errDocPanicked
	defer func() {
		if e.err != nil {
			c.mu.Lock()
			if el, ok := c.entries[e.key]; ok && el.Value.(*cacheEntry) == e {
				c.lru.Remove(el)
				delete(c.entries, e.key)
			}
			c.mu.Unlock()
		}
		close(e.done)
	}()
	b, err := doc()
	if err != nil {
		e.err = err
		return
	}
	e.schema, e.err = Compile(b)
}
