// Package format is the published image format: a raw disk image cut into
// fixed-size chunks, each compressed as an independent zstd frame, with a
// zstd seekable-format seek table at the end, described by a versioned,
// signed JSON manifest. See FORMAT.md in this folder for the specification.
//
// The archive is an ordinary .zst file (`zstd -d`, image2disk and bmaptool
// decode it whole) that a writer can also fetch, decode, verify and write
// chunk by chunk, in parallel and by HTTP Range, skipping all-zero chunks.
//
// Producers: Encoder (compress a chunk) + ArchiveWriter (assemble in order,
// build the Manifest). Consumers: ParseManifest/DecodeManifest, Manifest.Span,
// ReadSeekTable + Manifest.CheckSeekTable, NewDecoder + DecodeChunk per
// chunk, or Verify for a whole archive.
package format
