package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

// options are the flags of `write` and, through the same environment
// variables, of the image2disk-compatible root command.
type options struct {
	image, disk, sha, compressed, direct string
	manifest, signature, pubkey          string
	assumeZero, retry, textLog, noRescan bool
	conns, writers, retryMinutes         int
	progressSec                          int
	stall                                time.Duration
}

func envBool(name string, def bool) bool {
	v, err := strconv.ParseBool(cli.Env(name, strconv.FormatBool(def)))
	if err != nil {
		return def
	}
	return v
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(cli.Env(name, strconv.Itoa(def)))
	if err != nil {
		return def
	}
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(cli.Env(name, def.String()))
	if err != nil {
		return def
	}
	return v
}

func (o *options) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.image, "image", cli.Env("IMG_URL", ""), cli.EnvUsage("image to write: http(s) URL or local path", "IMG_URL"))
	fs.StringVar(&o.manifest, "manifest", cli.Env("MANIFEST_URL", ""), cli.EnvUsage("signed manifest (URL or path) of an image published by esxi-image publish: selects the fast path (parallel ranged fetch, per-chunk sha256, zero chunks never fetched); --image defaults to the archive named in it, next to it", "MANIFEST_URL"))
	fs.StringVar(&o.signature, "signature", cli.Env("MANIFEST_SIG_URL", ""), cli.EnvUsage("the manifest's minisign signature (default: the manifest's location + .minisig)", "MANIFEST_SIG_URL"))
	fs.StringVar(&o.pubkey, "pubkey", cli.Env("ESXI_MINISIGN_PUBKEY", ""), cli.EnvUsage("minisign public key that must have signed the manifest: a .pub file or the key itself (required with --manifest)", "ESXI_MINISIGN_PUBKEY"))
	fs.StringVar(&o.disk, "disk", cli.Env("DEST_DISK", ""), cli.EnvUsage("target block device (/dev/sda, /dev/nvme0n1) or regular file", "DEST_DISK"))
	fs.StringVar(&o.sha, "sha256", cli.Env("IMG_SHA256", ""), cli.EnvUsage("expected sha256 (hex) of the image file as served; the write fails before the disk gets a partition table if it differs", "IMG_SHA256"))
	fs.StringVar(&o.compressed, "compressed", cli.Env("COMPRESSED", "auto"), cli.EnvUsage("auto: detect gzip/zstd/xz/bzip2 by magic bytes; true: require one; false: write the bytes as they are", "COMPRESSED"))
	fs.BoolVar(&o.assumeZero, "assume-zero", envBool("TARGET_IS_ZERO", false), cli.EnvUsage("the target already reads as zero (fresh media): skip zeroing the image's zero ranges", "TARGET_IS_ZERO"))
	fs.StringVar(&o.direct, "direct", cli.Env("DIRECT_IO", "auto"), cli.EnvUsage("O_DIRECT writes on block devices: auto (on), on, off", "DIRECT_IO"))
	fs.IntVar(&o.conns, "connections", envInt("CONNECTIONS", 4), cli.EnvUsage("parallel HTTP Range connections (chunked images)", "CONNECTIONS"))
	fs.IntVar(&o.writers, "writers", envInt("WRITERS", 4), cli.EnvUsage("writes in flight", "WRITERS"))
	fs.BoolVar(&o.retry, "retry", envBool("RETRY_ENABLED", true), cli.EnvUsage("retry transient failures (resume at the byte reached) until --retry-minutes; false allows 5 attempts per request", "RETRY_ENABLED"))
	fs.IntVar(&o.retryMinutes, "retry-minutes", envInt("RETRY_DURATION_MINUTES", 10), cli.EnvUsage("stop retrying this many minutes after the start (a transfer that progresses is never cut)", "RETRY_DURATION_MINUTES"))
	fs.DurationVar(&o.stall, "stall-timeout", envDuration("STALL_TIMEOUT", 60*time.Second), cli.EnvUsage("cut and resume a connection that delivers nothing for this long", "STALL_TIMEOUT"))
	fs.IntVar(&o.progressSec, "progress-interval", envInt("PROGRESS_INTERVAL_SECONDS", 3), cli.EnvUsage("seconds between progress log lines (a terminal gets a live bar)", "PROGRESS_INTERVAL_SECONDS"))
	fs.BoolVar(&o.textLog, "text-logging", envBool("TEXT_LOGGING", false), cli.EnvUsage("log as text instead of JSON lines", "TEXT_LOGGING"))
	fs.BoolVar(&o.noRescan, "no-rescan", envBool("NO_RESCAN", false), cli.EnvUsage("do not ask the kernel to re-read the partition table", "NO_RESCAN"))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// request turns the options into a writer.Request, checking them first.
func (o *options) request(stderr io.Writer) (writer.Request, error) {
	var req writer.Request
	if o.image == "" && o.manifest == "" {
		return req, usageErr("no image: set --image (IMG_URL) or --manifest (MANIFEST_URL)")
	}
	if o.manifest != "" && o.pubkey == "" {
		return req, usageErr("--manifest needs --pubkey (ESXI_MINISIGN_PUBKEY): an unsigned manifest is never trusted")
	}
	if o.disk == "" {
		return req, usageErr("no target: set --disk or DEST_DISK")
	}
	switch strings.ToLower(o.compressed) {
	case "auto", "":
		req.Compression = decompress.Auto
	default:
		b, err := strconv.ParseBool(o.compressed)
		if err != nil {
			return req, usageErr(fmt.Sprintf("compressed %q: want auto, true or false", o.compressed))
		}
		req.Compression = decompress.Never
		if b {
			req.Compression = decompress.Always
		}
	}
	switch o.direct {
	case "auto", "on", "off":
	default:
		return req, usageErr(fmt.Sprintf("direct %q: want auto, on or off", o.direct))
	}
	tty := isTerminal(stderr)
	var h slog.Handler = slog.NewJSONHandler(stderr, nil)
	if o.textLog || tty {
		h = slog.NewTextHandler(stderr, nil)
	}
	req.Image, req.Disk, req.SHA256 = o.image, o.disk, o.sha
	req.AssumeZero, req.Direct, req.Conns, req.Writers = o.assumeZero, o.direct, o.conns, o.writers
	req.NoRescan = o.noRescan
	req.Restarts = 2
	req.Log = slog.New(h)
	req.ProgressOut, req.TTY, req.Interval = stderr, tty, time.Duration(o.progressSec)*time.Second
	req.Fetch.Stall = o.stall
	if o.retry {
		req.Fetch.RetryUntil = time.Now().Add(time.Duration(o.retryMinutes) * time.Minute)
	} else {
		req.Fetch.MaxAttempts = 5
	}
	return req, nil
}

// publicKey reads --pubkey: a file path or the key text itself.
func (o *options) publicKey() (minisign.PublicKey, error) {
	if b, err := os.ReadFile(o.pubkey); err == nil {
		return sign.ParsePublicKey(b)
	}
	return sign.ParsePublicKey([]byte(o.pubkey))
}

func usageErr(msg string) error {
	return &cli.ExitError{Code: int(writer.KindUsage), Err: fmt.Errorf("usage: %s", msg)}
}

// exit converts a writer error into the process exit status.
func exit(err error) error {
	if err == nil {
		return nil
	}
	return &cli.ExitError{Code: writer.ExitCode(err), Err: err}
}
