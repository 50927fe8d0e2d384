//go:build tools

// Package tools keeps github.com/hashicorp/packer in this wrapper module's
// build list so `go build github.com/hashicorp/packer` resolves against the
// pinned version and the go-cty replace above.
package tools

import _ "github.com/hashicorp/packer"
