// Package bank is a worked example of event sourcing with the Go SDK: a bank
// account whose balance is the fold of its stream's events (opened,
// deposited, withdrawn), with commands run by sdk.Execute so that concurrent
// deposits and withdrawals never lose an update, and no withdrawal ever
// overdraws the account.
//
// Each account is the stream "account-<id>". A command loads the account
// (from its snapshot, stored every 10 events by default), decides against
// the balance it read, and appends its event stating the version it read:
// when another command got there first, the append is refused and the
// command runs again on the new balance.
package bank

import (
	"context"
	"errors"
	"fmt"

	"github.com/ensue-dev/ensue/sdk"
)

// Event types of an account's stream.
const (
	TypeOpened    = "bank.account.opened"
	TypeDeposited = "bank.account.deposited"
	TypeWithdrawn = "bank.account.withdrawn"
)

// Source is the events' CloudEvents source.
const Source = "examples/bank"

// Account is an account's state. It is stored in snapshots as JSON.
type Account struct {
	Open    bool   `json:"open"`
	Owner   string `json:"owner,omitempty"`
	Balance int64  `json:"balance"` // in cents
}

// Errors of commands the account refuses.
var (
	ErrNotOpen           = errors.New("bank: the account is not open")
	ErrAlreadyOpen       = errors.New("bank: the account is already open")
	ErrInsufficientFunds = errors.New("bank: insufficient funds")
	ErrInvalidAmount     = errors.New("bank: an amount is a positive number of cents")
)

type opened struct {
	Owner string `json:"owner"`
}

type moved struct {
	Amount int64 `json:"amount"`
}

// Fold applies one recorded event to an account.
func Fold(a Account, rec sdk.Record) (Account, error) {
	switch rec.Event.Type {
	case TypeOpened:
		var d opened
		if err := rec.Event.DataAs(&d); err != nil {
			return a, err
		}
		a.Open, a.Owner = true, d.Owner
	case TypeDeposited, TypeWithdrawn:
		var d moved
		if err := rec.Event.DataAs(&d); err != nil {
			return a, err
		}
		if rec.Event.Type == TypeWithdrawn {
			d.Amount = -d.Amount
		}
		a.Balance += d.Amount
	default:
		// Events of other types in the stream do not change the balance.
	}
	return a, nil
}

// Bank runs commands on accounts.
type Bank struct {
	c    *sdk.Client
	opts []sdk.AggregateOption
}

// New returns a bank writing through c. opts tune sdk.Execute; the default
// stores a snapshot every 10 events and loads from it.
func New(c *sdk.Client, opts ...sdk.AggregateOption) *Bank {
	return &Bank{c: c, opts: append([]sdk.AggregateOption{sdk.SnapshotEvery(10)}, opts...)}
}

// Stream is the stream of account id.
func Stream(id string) string { return "account-" + id }

func (b *Bank) execute(ctx context.Context, id string, decide func(Account) ([]sdk.Event, error)) (*sdk.Aggregate[Account], error) {
	return sdk.Execute(ctx, b.c, Stream(id), Account{}, Fold, decide, b.opts...)
}

// Open opens account id for owner.
func (b *Bank) Open(ctx context.Context, id, owner string) error {
	_, err := b.execute(ctx, id, func(a Account) ([]sdk.Event, error) {
		if a.Open {
			return nil, ErrAlreadyOpen
		}
		return []sdk.Event{{Source: Source, Type: TypeOpened, Data: opened{Owner: owner}}}, nil
	})
	return err
}

// Deposit adds cents to account id and returns the new balance.
func (b *Bank) Deposit(ctx context.Context, id string, cents int64) (int64, error) {
	return b.move(ctx, id, TypeDeposited, cents)
}

// Withdraw takes cents from account id, unless the balance is lower, and
// returns the new balance.
func (b *Bank) Withdraw(ctx context.Context, id string, cents int64) (int64, error) {
	return b.move(ctx, id, TypeWithdrawn, cents)
}

func (b *Bank) move(ctx context.Context, id, typ string, cents int64) (int64, error) {
	if cents <= 0 {
		return 0, ErrInvalidAmount
	}
	agg, err := b.execute(ctx, id, func(a Account) ([]sdk.Event, error) {
		switch {
		case !a.Open:
			return nil, ErrNotOpen
		case typ == TypeWithdrawn && a.Balance < cents:
			return nil, fmt.Errorf("%w: the balance is %d, the withdrawal %d", ErrInsufficientFunds, a.Balance, cents)
		}
		return []sdk.Event{{Source: Source, Type: typ, Data: moved{Amount: cents}}}, nil
	})
	if err != nil {
		return 0, err
	}
	return agg.State.Balance, nil
}

// Account loads account id (from its snapshot when there is one).
func (b *Bank) Account(ctx context.Context, id string) (*sdk.Aggregate[Account], error) {
	return sdk.Load(ctx, b.c, Stream(id), Account{}, Fold, sdk.WithSnapshots())
}
