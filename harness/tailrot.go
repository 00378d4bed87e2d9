package harness

import (
	"fmt"
	"math/rand/v2"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/sim"
	"github.com/seedkv/seedkv/wal"
)

var _ faults.TailRotter = nodeProtocol{}

// RotTail flips one bit of the last durable record of the replica's WAL
// (the newest segment's last valid record), for the disk-corrupt-tail
// fault: half the time a zero bit of the middle bytes of its length field,
// which makes the record claim more bytes than the file holds (it looks
// cut short, like a torn write), else any bit of the record outside its
// length field.
//
// A record cut short at a sector-aligned end of file is exactly what a
// torn write leaves: no reader can tell that rot from one, and the node
// (like etcd) repairs it as torn. So when the file ends on a sector
// boundary the length field is left alone: the rot must stay detectable
// for the fault to be within the model.
func (p nodeProtocol) RotTail(d *sim.Disk, r *rand.Rand) (string, bool) {
	last := ""
	for _, name := range d.Names() {
		if wal.IsSegmentName(name) && name > last {
			last = name
		}
	}
	if last == "" {
		return "", false
	}
	b, err := d.DurableBytes(last)
	if err != nil {
		return "", false
	}
	off, size, ok := wal.LastRecord(b)
	if !ok {
		return "", false
	}
	at, bit := off+r.Int64N(size-wal.LengthFieldSize), uint(r.IntN(8))
	if at >= off+wal.LengthFieldOffset {
		at += wal.LengthFieldSize // skip the length field
	}
	aligned := int64(len(b))%int64(p.r.sc.simConfig().Disk.SectorSize) == 0
	if !aligned && r.IntN(2) == 0 {
		// Bytes 1 and 2 of the little-endian length: +256 or more, still
		// a plausible length (below 16 MiB).
		var zeros [][2]int64
		for k := int64(1); k <= 2; k++ {
			p := off + wal.LengthFieldOffset + k
			for i := range int64(8) {
				if b[p]&(1<<i) == 0 {
					zeros = append(zeros, [2]int64{p, i})
				}
			}
		}
		if len(zeros) > 0 {
			z := zeros[r.IntN(len(zeros))]
			at, bit = z[0], uint(z[1])
		}
	}
	if err := d.Corrupt(last, at, bit); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s@%d.%d (record at %d, %d bytes)", last, at, bit, off, size), true
}
