// Package publish turns a raw disk image into a publish directory: the
// seekable .img.zst, its signed manifest, a bmap, the matching esxi-writer
// and SHA256SUMS. It compresses on every core with bounded memory and
// never reads holes: chunks inside holes (SEEK_DATA/SEEK_HOLE) and chunks
// of zeros become one shared tiny frame.
//
// The Packer post-processor and `esxi-image publish` are thin shells over
// Publish.
package publish

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/esxi-golden/packer-plugin-esxi/images/bmap"
	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/internal/ordered"
	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

// File names in a publish directory besides <name>.img.zst and
// <name>.manifest.json(.minisig).
const (
	BmapSuffix = ".bmap"
	SumsName   = "SHA256SUMS"
)

// Sentinel errors.
var (
	ErrExists   = errors.New("output exists")
	ErrUnsigned = errors.New("no signing key: pass one, or allow an unsigned publish explicitly")
)

// Options control Publish. Name is required; zero values of the rest
// are defaults.
type Options struct {
	Name      string
	ChunkSize int64        // default format.DefaultChunkSize
	Level     format.Level // default zstd.SpeedDefault (≈ zstd -3)
	// Workers compressing in parallel; default GOMAXPROCS. Memory is
	// about 2×Workers×(2×ChunkSize).
	Workers int

	// Signer signs the manifest and SHA256SUMS. Nil is an error unless
	// Unsigned is set.
	Signer   *sign.Signer
	Unsigned bool

	// Writer is the esxi-writer binary to ship (static linux/amd64, same
	// version). Empty is an error unless NoWriter is set.
	Writer   string
	NoWriter bool

	// Overwrite replaces files of the same names in the directory.
	Overwrite bool

	ESXi    format.ESXi
	Agent   format.Agent
	Labels  map[string]string // builder provenance
	Tool    string            // builder.tool; default "esxi-image"
	Created time.Time         // default now

	// Progress, if set, is called on the publishing goroutine after each
	// chunk; keep it cheap.
	Progress func(Progress)
}

// Progress reports how far a publish is.
type Progress struct {
	Chunk, Chunks int   // chunks done, total
	Raw, RawSize  int64 // raw bytes done, total
	Compressed    int64 // archive bytes written
	DataChunks    int
}

// Result lists what Publish wrote.
type Result struct {
	Dir      string
	Manifest *format.Manifest
	// Files are the published files' paths in SHA256SUMS order, then
	// SHA256SUMS (and its signature) last.
	Files []string

	// Paths of the individual files; Signature and Writer are empty when
	// not published.
	Archive, ManifestFile, Signature, Bmap, Writer, Sums string
}

// Publish writes the publish directory for the raw image at rawPath into
// outDir (created if missing). Everything is written under temporary names
// and renamed into place only when all of it succeeded, SHA256SUMS last;
// on error nothing new is left behind.
func Publish(ctx context.Context, rawPath, outDir string, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Signer == nil && !o.Unsigned {
		return nil, ErrUnsigned
	}
	if o.Writer == "" && !o.NoWriter {
		return nil, fmt.Errorf("%w: no %s given (set a path, or publish without one explicitly)", ErrWriter, WriterName)
	}
	if o.Writer != "" {
		if err := checkWriter(ctx, o.Writer); err != nil {
			return nil, err
		}
	}
	src, err := os.Open(rawPath)
	if err != nil {
		return nil, fmt.Errorf("raw image: %w", err)
	}
	defer src.Close()
	size, err := src.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("raw image %s: size: %w", rawPath, err)
	}
	if size == 0 {
		return nil, fmt.Errorf("raw image %s: empty", rawPath)
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	r := &Result{Dir: outDir}
	final := map[*string]string{
		&r.Archive:      o.Name + format.ArchiveSuffix,
		&r.ManifestFile: o.Name + format.ManifestSuffix,
		&r.Bmap:         o.Name + BmapSuffix,
		&r.Sums:         SumsName,
	}
	if o.Signer != nil {
		final[&r.Signature] = o.Name + format.ManifestSuffix + format.SignatureSuffix
	}
	if o.Writer != "" {
		final[&r.Writer] = WriterName
	}
	// Every name this directory may hold for o.Name, including the ones
	// this run will not write (a signature, the writer), so an overwrite
	// never leaves a stale file that SHA256SUMS does not cover.
	all := []string{o.Name + format.ArchiveSuffix, o.Name + format.ManifestSuffix,
		o.Name + format.ManifestSuffix + format.SignatureSuffix, o.Name + BmapSuffix,
		WriterName, SumsName, SumsName + format.SignatureSuffix}
	var stale []string
	for _, name := range all {
		p := filepath.Join(outDir, name)
		if _, err := os.Lstat(p); err == nil {
			if !o.Overwrite {
				return nil, fmt.Errorf("%w: %s (choose another name or directory, or overwrite explicitly)", ErrExists, p)
			}
			stale = append(stale, p)
		}
	}
	stage, err := os.MkdirTemp(outDir, ".publish-"+o.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	defer os.RemoveAll(stage) // empty after success
	staged := func(name string) string { return filepath.Join(stage, name) }

	m, err := compress(ctx, src, size, staged(final[&r.Archive]), o)
	if err != nil {
		return nil, err
	}
	mb, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFile(staged(final[&r.ManifestFile]), mb, 0o644); err != nil {
		return nil, err
	}
	if o.Signer != nil {
		comment := fmt.Sprintf("file:%s image_sha256:%s archive_sha256:%s", final[&r.ManifestFile], m.Image.SHA256, m.Archive.SHA256)
		sig, err := o.Signer.Sign(bytes.NewReader(mb), comment)
		if err != nil {
			return nil, fmt.Errorf("sign manifest: %w", err)
		}
		if err := writeFile(staged(final[&r.Signature]), sig, 0o644); err != nil {
			return nil, err
		}
	}
	bm, err := bmap.FromManifest(m).Marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFile(staged(final[&r.Bmap]), bm, 0o644); err != nil {
		return nil, err
	}
	if o.Writer != "" {
		if err := copyFile(o.Writer, staged(WriterName), 0o755); err != nil {
			return nil, err
		}
	}

	// SHA256SUMS covers every other file, in a fixed order.
	order := []*string{&r.Archive, &r.ManifestFile, &r.Signature, &r.Bmap, &r.Writer}
	var sums bytes.Buffer
	for _, f := range order {
		name, ok := final[f]
		if !ok {
			continue
		}
		var d [32]byte
		if f == &r.Archive {
			d = m.Archive.SHA256 // hashed while writing
		} else if d, err = hashFile(staged(name)); err != nil {
			return nil, err
		}
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(d[:]), name)
	}
	if err := writeFile(staged(SumsName), sums.Bytes(), 0o644); err != nil {
		return nil, err
	}
	sumsSig := ""
	if o.Signer != nil {
		sig, err := o.Signer.Sign(bytes.NewReader(sums.Bytes()), "file:"+SumsName+" name:"+o.Name)
		if err != nil {
			return nil, fmt.Errorf("sign %s: %w", SumsName, err)
		}
		sumsSig = SumsName + format.SignatureSuffix
		if err := writeFile(staged(sumsSig), sig, 0o644); err != nil {
			return nil, err
		}
	}

	// Commit: remove the previous set, move the new files in, SHA256SUMS
	// last, so a directory that has a SHA256SUMS holds a complete set.
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("remove previous %s: %w", p, err)
		}
	}
	for _, f := range order {
		if name, ok := final[f]; ok {
			if err := os.Rename(staged(name), filepath.Join(outDir, name)); err != nil {
				return nil, fmt.Errorf("publish %s: %w", name, err)
			}
			*f = filepath.Join(outDir, name)
			r.Files = append(r.Files, *f)
		}
	}
	if sumsSig != "" {
		if err := os.Rename(staged(sumsSig), filepath.Join(outDir, sumsSig)); err != nil {
			return nil, fmt.Errorf("publish %s: %w", sumsSig, err)
		}
	}
	if err := os.Rename(staged(SumsName), filepath.Join(outDir, SumsName)); err != nil {
		return nil, fmt.Errorf("publish %s: %w", SumsName, err)
	}
	r.Sums = filepath.Join(outDir, SumsName)
	r.Files = append(r.Files, r.Sums)
	if sumsSig != "" {
		r.Files = append(r.Files, filepath.Join(outDir, sumsSig))
	}
	if err := syncDir(outDir); err != nil {
		return nil, err
	}
	r.Manifest = m
	return r, nil
}

func (o *Options) defaults() error {
	if !format.ValidName(o.Name) {
		return fmt.Errorf("name %q: want letters, digits, '.', '_', '+' or '-' (at most 128, not starting with a dot or dash)", o.Name)
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = format.DefaultChunkSize
	}
	if o.ChunkSize < format.MinChunkSize || o.ChunkSize > format.MaxChunkSize || o.ChunkSize%format.BlockAlign != 0 {
		return fmt.Errorf("chunk size %d: want a multiple of %d between %d and %d", o.ChunkSize, format.BlockAlign, format.MinChunkSize, format.MaxChunkSize)
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedDefault
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Tool == "" {
		o.Tool = "esxi-image"
	}
	return nil
}

type chunkResult struct {
	enc      format.Encoded
	raw, dst *[]byte // pooled; nil for zero chunks
}

// compress writes the archive to path and returns its manifest.
func compress(ctx context.Context, src *os.File, size int64, path string, o Options) (*format.Manifest, error) {
	ext, err := dataExtents(src, size)
	if err != nil {
		return nil, err
	}
	enc, err := format.NewEncoder(o.Level, o.Workers)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	aw, err := format.NewArchiveWriter(bw, size, o.ChunkSize)
	if err != nil {
		return nil, err
	}

	// Two buffers per chunk in flight: the raw chunk (kept until the
	// in-order sink has hashed it) and its compressed frame.
	rawPool := sync.Pool{New: func() any { b := make([]byte, o.ChunkSize); return &b }}
	dstPool := sync.Pool{New: func() any { b := make([]byte, 0, enc.MaxEncodedSize(int(o.ChunkSize))); return &b }}
	release := func(v chunkResult) {
		if v.raw != nil {
			rawPool.Put(v.raw)
			dstPool.Put(v.dst)
		}
	}
	work := func(ctx context.Context, i int) (chunkResult, error) {
		start := int64(i) * o.ChunkSize
		n := aw.RawSize(i)
		parts := overlapping(ext, start, start+n)
		if len(parts) == 0 {
			return chunkResult{enc: enc.ZeroChunk(int(n))}, nil
		}
		rb := rawPool.Get().(*[]byte)
		raw := (*rb)[:n]
		clear(raw)
		for _, p := range parts {
			a, b := max(p.Start, start), min(p.End, start+n)
			if _, err := src.ReadAt(raw[a-start:b-start], a); err != nil {
				rawPool.Put(rb)
				return chunkResult{}, fmt.Errorf("raw image: read %d bytes at byte %d (chunk %d): %w", b-a, a, i, err)
			}
		}
		db := dstPool.Get().(*[]byte)
		e := enc.Encode(*db, raw)
		if e.Zero {
			rawPool.Put(rb)
			dstPool.Put(db)
			return chunkResult{enc: e}, nil
		}
		*db = e.Frame[:0]
		return chunkResult{enc: e, raw: rb, dst: db}, nil
	}
	p := Progress{Chunks: aw.Chunks(), RawSize: size}
	sink := func(i int, v chunkResult) error {
		defer release(v)
		var raw []byte
		if v.raw != nil {
			raw = (*v.raw)[:aw.RawSize(i)]
		}
		if err := aw.Append(v.enc, raw); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		p.Chunk = i + 1
		p.Raw += aw.RawSize(i)
		p.Compressed += int64(len(v.enc.Frame))
		if !v.enc.Zero {
			p.DataChunks++
		}
		if o.Progress != nil {
			o.Progress(p)
		}
		return nil
	}
	if err := ordered.Run(ctx, aw.Chunks(), o.Workers, 2*o.Workers, work, sink, release); err != nil {
		return nil, err
	}
	m, err := aw.Finish(format.Meta{
		Name: o.Name, Created: o.Created, ESXi: o.ESXi, Agent: o.Agent,
		Builder: format.Builder{Tool: o.Tool, Version: version.String(), Labels: o.Labels},
	})
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := out.Sync(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return m, nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func hashFile(path string) ([32]byte, error) {
	var d [32]byte
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return d, fmt.Errorf("hash %s: %w", path, err)
	}
	copy(d[:], h.Sum(nil))
	return d, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
