package backupjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/configdiff"
)

// DiffKind is the kind of the file holding the diff of a backup's text file of kind
// against the same file of the device's previous backup.
func DiffKind(kind string) string { return kind + "-diff" }

// KindRunningConfigDiff is the diff of a conductor's running configuration.
var KindRunningConfigDiff = DiffKind(KindRunningConfig)

// maxDiffInput bounds each text a diff reads into memory (a comparison holds about
// three times its texts). Running configurations are far smaller, a few MiB at
// most; a larger one is stored all the same, only not compared line by line.
const maxDiffInput = 16 << 20

// TextDiff is how a text file of a backup differs from the file of the same kind in
// the device's previous backup. It holds counts and the diff's location, never text:
// configurations hold secrets.
type TextDiff struct {
	// Compared is true when the previous file was compared with this one: Added and
	// Removed are then the counts of changed lines.
	Compared bool
	// Changed: a line that is not ignored differs, or there is no previous file
	// (a first backup is a change).
	Changed        bool
	Added, Removed int
	// File is the unified diff in the store, written into the same run; zero when
	// nothing changed or nothing was compared.
	File backupstore.File
	// Skipped says why a previous file was not compared (unreadable, damaged, too
	// large to compare): the backup stands; Changed then compares SHA-256s.
	Skipped string
}

// diffText is the part of a backup's write step that compares the text file
// current, just written into run, with the file of the same kind in previous (the
// device's previous backup, as prevErr says Latest found it) and, when a line that
// no pattern of ignore matches changed, writes the unified diff into run as
// DiffKind(current.Kind) with its size and SHA-256. text is current's content, or
// nil to read it back from the store. Memory is bounded: each text is read once
// (at most maxDiffInput), and the diff streams into the store.
func diffText(ctx context.Context, store *backupstore.Store, run *backupstore.Run, previous backupstore.Backup, prevErr error,
	current backupstore.File, text []byte, ignore []*regexp.Regexp) (TextDiff, error) {
	if errors.Is(prevErr, backupstore.ErrNoBackup) {
		return TextDiff{Changed: true}, nil
	}
	if prevErr != nil {
		return TextDiff{Changed: true, Skipped: fmt.Sprintf("the previous backup could not be read (%v)", prevErr)}, nil
	}
	prev, found := previous.File(current.Kind)
	if !found || !prev.InStore() {
		return TextDiff{Changed: true}, nil
	}
	if prev.SHA256 == current.SHA256 && prev.Size == current.Size {
		return TextDiff{Compared: true}, nil // the same bytes: nothing to read
	}
	shaDiffers := TextDiff{Changed: true}
	if current.Size > maxDiffInput {
		shaDiffers.Skipped = tooLarge(current)
		return shaDiffers, nil
	}
	old, err := readStored(ctx, store, prev)
	if err != nil {
		if ctx.Err() != nil {
			return TextDiff{}, fmt.Errorf("read the previous %s: %w", current.Kind, err)
		}
		shaDiffers.Skipped = fmt.Sprintf("the previous %s was not compared: %v", current.Kind, err)
		return shaDiffers, nil
	}
	if text == nil {
		if text, err = readStored(ctx, store, current); err != nil {
			if ctx.Err() != nil {
				return TextDiff{}, fmt.Errorf("read back the %s: %w", current.Kind, err)
			}
			shaDiffers.Skipped = fmt.Sprintf("the %s was not compared: %v", current.Kind, err)
			return shaDiffers, nil
		}
	}
	cmp := configdiff.NewComparison(old, text, configdiff.Options{Ignore: ignore, OldName: prev.Key, NewName: current.Key})
	res := TextDiff{Compared: true, Changed: cmp.Changed(), Added: cmp.Added, Removed: cmp.Removed}
	if !res.Changed {
		return res, nil
	}
	if res.File, err = writeDiff(ctx, run, DiffKind(current.Kind), cmp); err != nil {
		return TextDiff{}, err
	}
	return res, nil
}

// readStored reads a stored file whole, verified against its record (size and
// SHA-256), refusing one larger than maxDiffInput.
func readStored(ctx context.Context, store *backupstore.Store, f backupstore.File) ([]byte, error) {
	if f.Size > maxDiffInput {
		return nil, errors.New(tooLarge(f))
	}
	rc, err := store.OpenFile(ctx, f)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only
	data := make([]byte, f.Size)
	// The read that delivers the last byte verifies the SHA-256.
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, err
	}
	return data, nil
}

func tooLarge(f backupstore.File) string {
	return fmt.Sprintf("the %s (%d bytes) is larger than the %d MiB a line-by-line comparison reads", f.Kind, f.Size, maxDiffInput>>20)
}

// writeDiff streams the unified diff of cmp into run as kind.
func writeDiff(ctx context.Context, run *backupstore.Run, kind string, cmp *configdiff.Comparison) (backupstore.File, error) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		defer func() {
			if p := recover(); p != nil {
				// A bug must fail this backup, not the whole provider.
				err = fmt.Errorf("internal error while writing the %s: %v", kind, p)
			}
			_ = pw.CloseWithError(err) // nil: the reader sees the end of the diff
		}()
		_, err = cmp.WriteTo(pw)
	}()
	f, err := run.WriteFile(ctx, kind, "diff", pr)
	_ = pr.Close() // a writer still at work stops
	<-done
	if err != nil {
		return backupstore.File{}, fmt.Errorf("store the %s: %w", kind, err)
	}
	return f, nil
}
