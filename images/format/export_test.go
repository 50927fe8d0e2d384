package format

import "github.com/klauspost/compress/zstd"

// SpeedDefaultForTest is the level the tests compress at.
const SpeedDefaultForTest = zstd.SpeedDefault
