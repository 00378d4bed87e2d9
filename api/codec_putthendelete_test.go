package api

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTxnPutThenDeleteEncoding: the flag is a trailing byte present only
// when set, so every other transaction encodes as before; a trailing 0 is
// refused (one encoding per message).
func TestTxnPutThenDeleteEncoding(t *testing.T) {
	txn := func(flag bool) *Request {
		return &Request{ID: 7, Body: &TxnRequest{
			Success:       []TxnOp{{Put: &PutRequest{Key: []byte("k")}}, {DeleteRange: &DeleteRangeRequest{Key: []byte("k")}}},
			PutThenDelete: flag}}
	}
	plain, flagged := MustEncode(txn(false)), MustEncode(txn(true))
	require.Equal(t, append(append([]byte(nil), plain...), 1), flagged)
	for _, b := range [][]byte{plain, flagged} {
		m, err := Decode(b)
		require.NoError(t, err)
		require.Equal(t, b, MustEncode(m))
	}
	m, err := Decode(flagged)
	require.NoError(t, err)
	require.True(t, m.(*Request).Body.(*TxnRequest).PutThenDelete)
	_, err = Decode(append(append([]byte(nil), plain...), 0))
	require.Error(t, err)
	_, err = Decode(append(append([]byte(nil), plain...), 2))
	require.Error(t, err)
	_, err = Decode(append(append([]byte(nil), flagged...), 1))
	require.Error(t, err)
}
