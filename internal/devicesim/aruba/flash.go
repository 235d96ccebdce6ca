package aruba

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
)

// flashFile is one file on the conductor's in-memory flash.
type flashFile struct {
	data    []byte
	modTime time.Time
}

// Names of the files a fresh conductor's flash holds.
const (
	// FlashStartupConfig is the saved configuration the conductor booted from.
	FlashStartupConfig = "default.cfg"
	// FlashDataFile holds FlashArchiveSize bytes of pseudo-random (incompressible)
	// content, standing in for certificates, licenses and logs.
	FlashDataFile = "license.db"
)

func initialFlash(cfg Config, now time.Time) map[string]flashFile {
	flash := map[string]flashFile{
		FlashStartupConfig: {data: []byte(cfg.RunningConfig), modTime: now},
	}
	if cfg.FlashArchiveSize > 0 {
		flash[FlashDataFile] = flashFile{data: pseudoRandom(cfg.Name, cfg.FlashArchiveSize), modTime: now}
	}
	return flash
}

// pseudoRandom returns n bytes that are the same for the same seed (so a conductor's
// flash looks the same across runs) and do not compress.
func pseudoRandom(seed string, n int) []byte {
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	var key [32]byte
	sum := h.Sum64()
	for i := range key {
		key[i] = byte(sum >> (8 * (i % 8)))
	}
	key[31] ^= byte(len(seed))
	out := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(out)
	return out
}

// isTarName is what tar_flash_clean deletes: *.tar*.
func isTarName(name string) bool { return strings.Contains(name, ".tar") }

// isConfigName is what a "config" flash_backup archives.
func isConfigName(name string) bool { return strings.HasSuffix(name, ".cfg") }

// validFlashName accepts plain file names in the flash root.
func validFlashName(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, "/\\ \t\r\n\x00")
}

// buildArchive tars and gzips the given flash files under "flash/".
func buildArchive(files map[string]flashFile, names []string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range names {
		f := files[name]
		hdr := &tar.Header{
			Name:    "flash/" + name,
			Mode:    0o644,
			Size:    int64(len(f.data)),
			ModTime: f.modTime.Truncate(time.Second),
			Format:  tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
