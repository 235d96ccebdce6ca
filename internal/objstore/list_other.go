//go:build !linux

package objstore

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// listUnder lists, sorted by key, the objects whose keys start with prefix in the
// folder dir (key prefix dirKey) and below it; see List.
func (l *Local) listUnder(ctx context.Context, dir, dirKey, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // nothing stored under this prefix yet
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			if d.Type()&fs.ModeSymlink != 0 && dir != l.root {
				return errSymlink(p) // replaced since checkDirs
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		key := dirKey + filepath.ToSlash(rel)
		if d.IsDir() {
			// Skip folders that cannot hold a match: "a/b" for prefix "a/c".
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return errSymlink(p)
		case !d.Type().IsRegular():
			return errNotRegular(p, d.Type())
		case ValidKey(key) != nil:
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
