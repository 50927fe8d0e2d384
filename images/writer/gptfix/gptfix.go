// Package gptfix moves a GPT's backup copy to the last sector of a disk
// larger than the image it came from, the step `sgdisk -e` performs.
//
// It is hand-written because it must change nothing but what the move
// needs: the libraries that write GPTs (go-diskfs) regenerate the whole
// table, protective MBR included, from their own model, and the writer has
// to keep the image's bytes as published. Only the primary header's
// AlternateLBA and LastUsableLBA (and its CRC) change, and a backup array +
// header is built at the disk's end.
package gptfix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Signature is the GPT header magic at LBA 1.
const Signature = "EFI PART"

// ErrNoGPT means the bytes hold no valid primary GPT header.
var ErrNoGPT = errors.New("no valid GPT header")

// Header fields used here (UEFI 2.10 §5.3.2, offsets in the header sector).
const (
	offHeaderSize  = 12
	offHeaderCRC   = 16
	offMyLBA       = 24
	offAlternate   = 32
	offFirstUsable = 40
	offLastUsable  = 48
	offEntriesLBA  = 72
	offNumEntries  = 80
	offEntrySize   = 84
	offEntriesCRC  = 88
)

// Header is the part of a GPT header the writer reasons about.
type Header struct {
	MyLBA, AlternateLBA, FirstUsable, LastUsable, EntriesLBA uint64
	NumEntries, EntrySize                                    uint32
}

// Parse validates the primary GPT in head (the disk's first bytes, at least
// through the entries array) for the given logical sector size, checking
// the signature and both CRCs.
func Parse(head []byte, sector int) (Header, error) {
	if len(head) < 2*sector {
		return Header{}, fmt.Errorf("%w: %d bytes, need %d", ErrNoGPT, len(head), 2*sector)
	}
	h := head[sector : 2*sector]
	if string(h[:8]) != Signature {
		return Header{}, fmt.Errorf("%w: signature %q at byte %d, want %q", ErrNoGPT, h[:8], sector, Signature)
	}
	le := binary.LittleEndian
	hs := le.Uint32(h[offHeaderSize:])
	if hs < 92 || int(hs) > sector {
		return Header{}, fmt.Errorf("%w: header size %d", ErrNoGPT, hs)
	}
	if got, want := headerCRC(h[:hs]), le.Uint32(h[offHeaderCRC:]); got != want {
		return Header{}, fmt.Errorf("%w: header crc %#x, stored %#x", ErrNoGPT, got, want)
	}
	hd := Header{
		MyLBA: le.Uint64(h[offMyLBA:]), AlternateLBA: le.Uint64(h[offAlternate:]),
		FirstUsable: le.Uint64(h[offFirstUsable:]), LastUsable: le.Uint64(h[offLastUsable:]),
		EntriesLBA: le.Uint64(h[offEntriesLBA:]), NumEntries: le.Uint32(h[offNumEntries:]),
		EntrySize: le.Uint32(h[offEntrySize:]),
	}
	if hd.MyLBA != 1 || hd.EntrySize < 128 || hd.NumEntries > 1<<16 {
		return Header{}, fmt.Errorf("%w: my lba %d, entry size %d, entries %d", ErrNoGPT, hd.MyLBA, hd.EntrySize, hd.NumEntries)
	}
	start := hd.EntriesLBA * uint64(sector)
	end := start + uint64(hd.NumEntries)*uint64(hd.EntrySize)
	if end > uint64(len(head)) || start < 2*uint64(sector) {
		return Header{}, fmt.Errorf("%w: entries at bytes %d-%d outside the %d bytes given", ErrNoGPT, start, end, len(head))
	}
	if got, want := crc32.ChecksumIEEE(head[start:end]), le.Uint32(h[offEntriesCRC:]); got != want {
		return Header{}, fmt.Errorf("%w: entries crc %#x, stored %#x", ErrNoGPT, got, want)
	}
	return hd, nil
}

func headerCRC(h []byte) uint32 {
	c := bytes.Clone(h)
	clear(c[offHeaderCRC : offHeaderCRC+4])
	return crc32.ChecksumIEEE(c)
}

// Relocate rewrites head (in place) so the primary header points at a
// backup at the last LBA of a disk of diskSize bytes, and returns that
// backup (entries array followed by header) and its byte offset. It
// returns ErrNoGPT when head holds no GPT (an MBR-only image is left as is)
// and nil backup when the backup already sits at the disk's end.
func Relocate(head []byte, sector int, diskSize int64) (backup []byte, off int64, err error) {
	hd, err := Parse(head, sector)
	if err != nil {
		return nil, 0, err
	}
	ss := uint64(sector)
	lastLBA := uint64(diskSize)/ss - 1
	if hd.AlternateLBA == lastLBA {
		return nil, 0, nil
	}
	if hd.AlternateLBA > lastLBA {
		return nil, 0, fmt.Errorf("gpt backup at lba %d is past the disk's last lba %d", hd.AlternateLBA, lastLBA)
	}
	arrayBytes := uint64(hd.NumEntries) * uint64(hd.EntrySize)
	arraySectors := (arrayBytes + ss - 1) / ss
	if lastLBA <= arraySectors || lastLBA-arraySectors <= hd.LastUsable {
		return nil, 0, fmt.Errorf("disk of %d bytes cannot hold a backup gpt after last usable lba %d", diskSize, hd.LastUsable)
	}
	backupEntriesLBA := lastLBA - arraySectors
	le := binary.LittleEndian
	h := head[sector : 2*sector]
	hs := le.Uint32(h[offHeaderSize:])
	le.PutUint64(h[offAlternate:], lastLBA)
	le.PutUint64(h[offLastUsable:], backupEntriesLBA-1)
	le.PutUint32(h[offHeaderCRC:], headerCRC(h[:hs]))

	backup = make([]byte, (arraySectors+1)*ss)
	es := hd.EntriesLBA * ss
	copy(backup, head[es:es+arrayBytes])
	bh := backup[arraySectors*ss:]
	copy(bh, h[:hs])
	le.PutUint64(bh[offMyLBA:], lastLBA)
	le.PutUint64(bh[offAlternate:], 1)
	le.PutUint64(bh[offEntriesLBA:], backupEntriesLBA)
	le.PutUint32(bh[offHeaderCRC:], headerCRC(bh[:hs]))
	return backup, int64(backupEntriesLBA * ss), nil
}
