package node

import (
	"bytes"

	"github.com/seedkv/seedkv/raft"
)

// CommandMemo shares decoded log commands among replicas that run in one
// address space (a simulated cluster: every replica applies every
// committed entry, and each decoded its request again, allocating the
// request, its body and, for a transaction, its compares and ops). A
// replica that applies an entry looks it up by index; a slot answers only
// if it holds the very same bytes (compared in full), so the command is
// the one decoding those bytes gives, whatever the index or term. A
// decoded command is never written (its request's byte fields alias the
// bytes of the entry it was first decoded from, which no one writes
// either). Nil decodes every entry. Not safe for concurrent use: one
// memo per single-threaded world.
type CommandMemo struct {
	slots [cmdMemoSlots]cmdMemoSlot
}

type cmdMemoSlot struct {
	index uint64
	data  []byte
	c     command
}

// cmdMemoSlots is the memo's size: a replica applies an entry at most a
// few hundred indexes after the first one that decoded it, unless it
// lags (then it decodes).
const cmdMemoSlots = 512

// NewCommandMemo returns an empty memo, to share among the replicas of
// one world (Config.Commands).
func NewCommandMemo() *CommandMemo { return &CommandMemo{} }

// decode is decodeEntryCommand(e.Data), looked up first.
func (m *CommandMemo) decode(e *raft.Entry) (command, error) {
	if m == nil {
		return decodeEntryCommand(e.Data)
	}
	s := &m.slots[e.Index%cmdMemoSlots]
	if s.index == e.Index && s.data != nil && bytes.Equal(s.data, e.Data) {
		return s.c, nil
	}
	c, err := decodeEntryCommand(e.Data)
	if err != nil {
		return c, err
	}
	s.index, s.data, s.c = e.Index, e.Data, c
	return c, nil
}
