package bank_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/examples/bank"
	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/sdk"
)

// TestConcurrentCommands runs 16 goroutines of 20 random deposits and
// withdrawals on one account against a real server: the final balance is
// the sum of the accepted commands (no lost update), the balance never went
// below zero, the stream's versions are dense, and loading from the
// snapshot folds fewer than 10 events.
func TestConcurrentCommands(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ctx := context.Background()
	c := sdk.New(srv.URL, sdk.WithNamespace("bank"))
	b := bank.New(c, sdk.MaxAttempts(1000))

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	require.NoError(t, b.Open(ctx, "alice", "Alice"))
	require.ErrorIs(t, b.Open(ctx, "alice", "Alice"), bank.ErrAlreadyOpen)

	const workers, commands = 16, 20
	var sum, accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		wg.Go(func() {
			for range commands {
				cents := 1 + rng.Int64N(100)
				var err error
				if rng.IntN(3) == 0 {
					_, err = b.Withdraw(ctx, "alice", cents)
					cents = -cents
				} else {
					_, err = b.Deposit(ctx, "alice", cents)
				}
				switch {
				case err == nil:
					sum.Add(cents)
					accepted.Add(1)
				case errors.Is(err, bank.ErrInsufficientFunds):
					refused.Add(1)
				default:
					t.Errorf("command failed: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	t.Logf("%d accepted, %d refused for insufficient funds", accepted.Load(), refused.Load())
	require.Equal(t, int64(workers*commands), accepted.Load()+refused.Load())

	// The stream: one event per accepted command after the opening, at
	// versions 1..n, and its balance never below zero.
	var balance int64
	var n int64
	for rec, err := range c.Records(ctx, sdk.Query{Subject: bank.Stream("alice"), Limit: 1000}) {
		require.NoError(t, err)
		n++
		require.Equal(t, n, rec.Version, "versions are dense")
		acct, err := bank.Fold(bank.Account{Balance: balance}, rec)
		require.NoError(t, err)
		balance = acct.Balance
		require.GreaterOrEqual(t, balance, int64(0), "overdrawn at version %d", rec.Version)
	}
	require.Equal(t, 1+accepted.Load(), n)
	require.Equal(t, sum.Load(), balance)

	// Loading from the snapshot (stored every 10 events) folds the rest.
	folded := 0
	counting := func(a bank.Account, rec sdk.Record) (bank.Account, error) {
		folded++
		return bank.Fold(a, rec)
	}
	agg, err := sdk.Load(ctx, c, bank.Stream("alice"), bank.Account{}, counting, sdk.WithSnapshots())
	require.NoError(t, err)
	require.Equal(t, n, agg.Version)
	require.Equal(t, sum.Load(), agg.State.Balance)
	require.True(t, agg.State.Open)
	require.Equal(t, int(n%10), folded, "snapshot at the last multiple of 10")
	require.Equal(t, folded, agg.Replayed)

	folded = 0
	full, err := sdk.Load(ctx, c, bank.Stream("alice"), bank.Account{}, counting)
	require.NoError(t, err)
	require.Equal(t, int(n), folded)
	require.Equal(t, agg.State, full.State)
}

// TestCommands: the account's rules.
func TestCommands(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ctx := context.Background()
	b := bank.New(sdk.New(srv.URL))

	_, err := b.Deposit(ctx, "bob", 10)
	require.ErrorIs(t, err, bank.ErrNotOpen)
	require.NoError(t, b.Open(ctx, "bob", "Bob"))
	_, err = b.Deposit(ctx, "bob", 0)
	require.ErrorIs(t, err, bank.ErrInvalidAmount)
	bal, err := b.Deposit(ctx, "bob", 500)
	require.NoError(t, err)
	require.Equal(t, int64(500), bal)
	_, err = b.Withdraw(ctx, "bob", 501)
	require.ErrorIs(t, err, bank.ErrInsufficientFunds)
	bal, err = b.Withdraw(ctx, "bob", 200)
	require.NoError(t, err)
	require.Equal(t, int64(300), bal)
	acct, err := b.Account(ctx, "bob")
	require.NoError(t, err)
	require.Equal(t, bank.Account{Open: true, Owner: "Bob", Balance: 300}, acct.State)
	require.Equal(t, int64(3), acct.Version)
}
