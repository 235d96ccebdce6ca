package ilo

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// The simulator's backup image format. A real iLO .bak file is an opaque, encrypted
// blob; the simulator's is a small self-describing header followed by deterministic
// pseudo-random bytes, so arbitrary sizes stream without being held in memory and a
// restore can check every byte without the simulator having kept the image.
//
// Header (ImageHeaderSize = 160 bytes, integers big-endian):
//
//	  0   8  magic "HPEILOBK"
//	  8   2  format version (1)
//	 10   2  header size (160)
//	 12   1  flags: bit 0 = password protected
//	 13   3  reserved (zero)
//	 16  32  serial number, ASCII, NUL padded
//	 48  16  manager type ("iLO 6"), NUL padded
//	 64  16  firmware version ("1.70"), NUL padded
//	 80   8  backup id (identifies the backup the image was made from)
//	 88   8  total image size in bytes, header included
//	 96  16  salt (zero when not password protected)
//	112  32  password verifier: HMAC-SHA256(key = salt, "ilosim backup password v1\0" + password)
//	         (zero when not password protected); the password itself is never stored
//	144  12  reserved (zero)
//	156   4  CRC-32 (IEEE) of bytes 0..155
//
// Payload: the AES-128-CTR keystream whose key and IV are SHA-256("ilosim payload
// v1\0" + header bytes 0..155 [+ password when protected]). Changing any header field
// (say, the serial) or the password therefore changes every payload byte, and a
// restore detects truncation, corruption and tampering.
const (
	ImageHeaderSize      = 160
	MaxBackupPasswordLen = 32
	imageMagic           = "HPEILOBK"
	imageFormatVersion   = 1
	verifierDomain       = "ilosim backup password v1\x00"
	payloadDomain        = "ilosim payload v1\x00"
)

// Errors returned by VerifyImage.
var (
	ErrNotImage      = errors.New("ilo: not an iLO backup image")
	ErrWrongPassword = errors.New("ilo: wrong or missing backup password")
	ErrCorruptImage  = errors.New("ilo: backup image is truncated or corrupted")
)

// ImageInfo is what an image header records.
type ImageInfo struct {
	Serial            string
	ManagerType       string
	Firmware          string
	PasswordProtected bool
	BackupID          uint64
	Size              int64 // total bytes, header included
}

type imageHeader struct {
	ImageInfo
	salt     [16]byte
	verifier [32]byte
}

func passwordVerifier(salt []byte, password string) [32]byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(verifierDomain))
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func putString(dst []byte, s string) { copy(dst, s) }

func getString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (h *imageHeader) marshal() []byte {
	b := make([]byte, ImageHeaderSize)
	copy(b[0:8], imageMagic)
	binary.BigEndian.PutUint16(b[8:10], imageFormatVersion)
	binary.BigEndian.PutUint16(b[10:12], ImageHeaderSize)
	if h.PasswordProtected {
		b[12] = 1
	}
	putString(b[16:48], h.Serial)
	putString(b[48:64], h.ManagerType)
	putString(b[64:80], h.Firmware)
	binary.BigEndian.PutUint64(b[80:88], h.BackupID)
	binary.BigEndian.PutUint64(b[88:96], uint64(h.Size))
	copy(b[96:112], h.salt[:])
	copy(b[112:144], h.verifier[:])
	binary.BigEndian.PutUint32(b[156:160], crc32.ChecksumIEEE(b[:156]))
	return b
}

func parseImageHeader(b []byte) (*imageHeader, error) {
	if len(b) < ImageHeaderSize || string(b[0:8]) != imageMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrNotImage)
	}
	if crc32.ChecksumIEEE(b[:156]) != binary.BigEndian.Uint32(b[156:160]) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrNotImage)
	}
	if v := binary.BigEndian.Uint16(b[8:10]); v != imageFormatVersion {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrNotImage, v)
	}
	if n := binary.BigEndian.Uint16(b[10:12]); n != ImageHeaderSize {
		return nil, fmt.Errorf("%w: unexpected header size %d", ErrNotImage, n)
	}
	size := binary.BigEndian.Uint64(b[88:96])
	if size < ImageHeaderSize || size > 1<<62 {
		return nil, fmt.Errorf("%w: implausible image size %d", ErrNotImage, size)
	}
	h := &imageHeader{ImageInfo: ImageInfo{
		PasswordProtected: b[12]&1 == 1,
		Serial:            getString(b[16:48]),
		ManagerType:       getString(b[48:64]),
		Firmware:          getString(b[64:80]),
		BackupID:          binary.BigEndian.Uint64(b[80:88]),
		Size:              int64(size),
	}}
	copy(h.salt[:], b[96:112])
	copy(h.verifier[:], b[112:144])
	return h, nil
}

// checkPassword reports whether password opens the image.
func (h *imageHeader) checkPassword(password string) bool {
	if !h.PasswordProtected {
		return true
	}
	want := passwordVerifier(h.salt[:], password)
	return hmac.Equal(want[:], h.verifier[:])
}

// payloadStream returns the keystream generator of the image's payload.
func payloadStream(rawHeader []byte, protected bool, password string) cipher.Stream {
	d := sha256.New()
	d.Write([]byte(payloadDomain))
	d.Write(rawHeader[:156])
	if protected {
		d.Write([]byte(password))
	}
	sum := d.Sum(nil)
	block, err := aes.NewCipher(sum[:16])
	if err != nil {
		panic(err) // 16-byte key: cannot fail
	}
	return cipher.NewCTR(block, sum[16:32])
}

// newImageHeader builds the header of an image; protected images get a fresh random
// salt (so two downloads with the same password differ, as encrypted files do).
func newImageHeader(info ImageInfo, password string) *imageHeader {
	if info.Size < ImageHeaderSize {
		info.Size = ImageHeaderSize
	}
	info.PasswordProtected = password != ""
	h := &imageHeader{ImageInfo: info}
	if info.PasswordProtected {
		_, _ = rand.Read(h.salt[:])
		h.verifier = passwordVerifier(h.salt[:], password)
	}
	return h
}

// imageReader streams an image: header, then payload, up to Size bytes.
type imageReader struct {
	hdr  []byte
	off  int64
	size int64
	gen  cipher.Stream
}

func newImageReader(h *imageHeader, password string) *imageReader {
	raw := h.marshal()
	return &imageReader{hdr: raw, size: h.Size, gen: payloadStream(raw, h.PasswordProtected, password)}
}

func (r *imageReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if rem := r.size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	if r.off < int64(len(r.hdr)) {
		n = copy(p, r.hdr[r.off:])
		r.off += int64(n)
		p = p[n:]
	}
	if len(p) > 0 {
		clear(p)
		r.gen.XORKeyStream(p, p)
		r.off += int64(len(p))
		n += len(p)
	}
	return n, nil
}

// GenerateImage returns a reader of a valid backup image as the simulator makes it
// (info.PasswordProtected is ignored: a non-empty password protects the image). Tests
// use it to craft images, e.g. of another serial. Size below ImageHeaderSize is raised.
func GenerateImage(info ImageInfo, password string) io.Reader {
	return newImageReader(newImageHeader(info, password), password)
}

// ReadImageInfo reads and checks an image header (not the payload).
func ReadImageInfo(r io.Reader) (*ImageInfo, error) {
	buf := make([]byte, ImageHeaderSize)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: shorter than a header", ErrNotImage)
		}
		return nil, err
	}
	h, err := parseImageHeader(buf)
	if err != nil {
		return nil, err
	}
	info := h.ImageInfo
	return &info, nil
}

// VerifyImage reads a whole image from r and checks it: header, password (for a
// protected image), every payload byte, exact length. It returns the header's
// information, the SHA-256 (hex) and the number of bytes read. Errors wrap
// ErrNotImage, ErrWrongPassword or ErrCorruptImage (or are read errors of r).
func VerifyImage(r io.Reader, password string) (*ImageInfo, string, int64, error) {
	return verifyImage(r, password, sha256.New())
}

func verifyImage(r io.Reader, password string, sum hash.Hash) (*ImageInfo, string, int64, error) {
	var n int64
	raw := make([]byte, ImageHeaderSize)
	m, err := io.ReadFull(r, raw)
	n += int64(m)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, "", n, fmt.Errorf("%w: shorter than a header", ErrNotImage)
		}
		return nil, "", n, err
	}
	sum.Write(raw)
	h, err := parseImageHeader(raw)
	if err != nil {
		return nil, "", n, err
	}
	info := h.ImageInfo
	if !h.checkPassword(password) {
		return &info, "", n, ErrWrongPassword
	}
	gen := payloadStream(raw, h.PasswordProtected, password)
	const chunk = 64 << 10
	got := make([]byte, chunk)
	want := make([]byte, chunk)
	for remaining := h.Size - ImageHeaderSize; remaining > 0; {
		c := int64(chunk)
		if remaining < c {
			c = remaining
		}
		m, err := io.ReadFull(r, got[:c])
		n += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return &info, "", n, fmt.Errorf("%w: truncated after %d of %d bytes", ErrCorruptImage, n, h.Size)
			}
			return &info, "", n, err
		}
		clear(want[:c])
		gen.XORKeyStream(want[:c], want[:c])
		if !bytes.Equal(got[:c], want[:c]) {
			return &info, "", n, fmt.Errorf("%w: content mismatch near byte %d", ErrCorruptImage, n)
		}
		sum.Write(got[:c])
		remaining -= c
	}
	var extra [1]byte
	for {
		m, err := r.Read(extra[:])
		if m > 0 {
			return &info, "", n + int64(m), fmt.Errorf("%w: trailing bytes after %d", ErrCorruptImage, h.Size)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &info, "", n, err
		}
	}
	return &info, hex.EncodeToString(sum.Sum(nil)), n, nil
}
