package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

// cart is the state of a shopping cart: its items.
type cart struct {
	Items []string `json:"items"`
}

func foldCart(s cart, rec sdk.Record) (cart, error) {
	if rec.Event.Type == "cart.item_added" {
		var item string
		if err := rec.Event.DataAs(&item); err != nil {
			return s, err
		}
		s.Items = append(s.Items[:len(s.Items):len(s.Items)], item) // copy: never share the caller's array
	}
	return s, nil
}

func ExampleExecute() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-aggregate"))

	addItem := func(item string) func(cart) ([]sdk.Event, error) {
		return func(s cart) ([]sdk.Event, error) {
			if len(s.Items) >= 2 {
				return nil, errors.New("the cart is full")
			}
			return []sdk.Event{{Source: "/shop", Type: "cart.item_added", Data: item}}, nil
		}
	}
	for _, item := range []string{"apple", "pear", "plum"} {
		agg, err := sdk.Execute(ctx, c, "cart-1", cart{}, foldCart, addItem(item), sdk.SnapshotEvery(2))
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(agg.Version, agg.State.Items)
	}
	agg, err := sdk.Load(ctx, c, "cart-1", cart{}, foldCart, sdk.WithSnapshots())
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("loaded version", agg.Version, "folding", agg.Replayed, "records after the snapshot")
	// Output:
	// 1 [apple]
	// 2 [apple pear]
	// refused: the cart is full
	// loaded version 2 folding 0 records after the snapshot
}

// TestLoadPages: Load reads a stream longer than a page, and Append refuses
// events of another stream and a stale version.
func TestLoadPages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newClient(t)
	evs := make([]sdk.Event, 1000)
	for i := range evs {
		evs[i] = sdk.Event{Source: "/shop", Type: "cart.item_added", Subject: "big", Data: fmt.Sprint(i)}
	}
	for range 2 {
		_, err := c.AppendAtomic(ctx, evs)
		require.NoError(t, err)
	}
	_, err := c.Append(ctx, evs[0])
	require.NoError(t, err)
	agg, err := sdk.Load(ctx, c, "big", cart{}, foldCart)
	require.NoError(t, err)
	require.Equal(t, int64(2001), agg.Version)
	require.Len(t, agg.State.Items, 2001)
	require.Equal(t, 2001, agg.Replayed)

	_, err = agg.Append(ctx, sdk.Event{Source: "/shop", Type: "cart.item_added", Subject: "other", Data: "x"})
	require.Error(t, err)
	stale := *agg
	res, err := agg.Append(ctx, sdk.Event{Source: "/shop", Type: "cart.item_added", Data: "x"}, sdk.Event{Source: "/shop", Type: "cart.item_added", Data: "y"})
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, int64(2003), agg.Version)
	require.Equal(t, []string{"x", "y"}, agg.State.Items[2001:])
	_, err = stale.Append(ctx, sdk.Event{Source: "/shop", Type: "cart.item_added", Data: "z"})
	require.ErrorIs(t, err, sdk.ErrWrongExpectedVersion)
	require.Equal(t, int64(2001), stale.Version)
}
