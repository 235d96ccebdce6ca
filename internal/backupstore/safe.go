package backupstore

import (
	"context"
	"fmt"
	"io"
)

// The store is untrusted input: anyone who can write to the folder or the bucket can
// put a forged record there, and on the local backend a named pipe or a symbolic
// link too. Every lookup reads it under the same rules:
//
//   - the backend follows no symbolic link inside a local store, opens only regular
//     files, never in a way that can block, and refuses a listing that meets
//     anything else (objstore.Local);
//   - a record is at most MaxRecordSize bytes, on write as on read;
//   - a record newer than the answer that cannot be used is an error naming it, not a
//     reason to answer with an older backup (lookup.go).

// MaxRecordSize is the largest backup record (sidecar) the store writes or reads.
// Most are a few KiB; an Apstra backup's lists every managed device of every
// blueprint, about 600 bytes each (575 KB for 1,000), so 8 MiB holds a fabric of
// some 13,000 devices while a damaged or hostile record still costs little memory.
const MaxRecordSize = 8 << 20

// readRecord reads one record under the store's rules.
func (s *Store) readRecord(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := s.obj.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // only read: closing cannot lose anything
	return readAllLimited(rc, MaxRecordSize)
}

// readAllLimited reads r to its end, failing once it has more than limit bytes.
func readAllLimited(r io.Reader, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("the record is larger than the %d bytes it may hold", limit)
	}
	return data, nil
}

func checkRecordSize(n int) error {
	if n > MaxRecordSize {
		return fmt.Errorf("the record is larger than the %d bytes a backup record may hold", MaxRecordSize)
	}
	return nil
}

// decodeRecord checks a record's size and content: the one test a record passes on
// write (Commit) and on read (lookups).
func decodeRecord(data []byte, family, device, id string) (Backup, error) {
	if err := checkRecordSize(len(data)); err != nil {
		return Backup{}, err
	}
	return parseSidecar(data, family, device, id)
}
