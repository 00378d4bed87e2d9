package api

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResponsesPastTheRequestLimit: a response may be larger than any
// request (a range of many large values), up to MaxResponseSize; a
// request stays bounded by MaxMessageSize.
func TestResponsesPastTheRequestLimit(t *testing.T) {
	val := make([]byte, MaxValueSize)
	var kvs []KeyValue
	for range MaxMessageSize/MaxValueSize + 1 {
		kvs = append(kvs, KeyValue{Key: []byte("k"), Value: val})
	}
	resp := &Response{ID: 1, Op: OpRange, Body: &RangeResponse{KVs: kvs, Count: int64(len(kvs))}}
	b, err := Encode(resp)
	require.NoError(t, err)
	require.Greater(t, len(b), MaxMessageSize)
	m, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, resp, m)

	var ops []TxnOp
	for range MaxMessageSize/MaxValueSize + 1 {
		ops = append(ops, TxnOp{Put: &PutRequest{Key: []byte("k"), Value: val}})
	}
	_, err = Encode(&Request{ID: 2, Body: &TxnRequest{Success: ops}})
	require.ErrorIs(t, err, ErrInvalid)
	// A request past the limit is refused by the decoder too (the bytes
	// built by hand: a valid put request, padded past the limit).
	req := MustEncode(&Request{ID: 3, Body: &PutRequest{Key: []byte("k")}})
	_, err = Decode(append(req, make([]byte, MaxMessageSize)...))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.ErrorIs(t, err, ErrTooLarge)
}
