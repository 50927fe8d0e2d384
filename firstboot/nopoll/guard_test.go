package nopoll

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agentPackages are compiled into esxi-firstboot (or run beside it under
// the filter, like fakeesx); none may call what starts Go's poller.
var agentPackages = []string{
	"../agent", "../esxi", "../esxi/fakehost", "../esxi/fakehost/fakeesx", "../httpc", "../metadata",
	"../model", "../plan", "../provider", "../report", "../runonce", ".", "../../cmd/esxi-firstboot",
}

// forbidden calls, each with the reason the poller starts.
var forbidden = map[string]string{
	"os.Open": "regular files are offered to epoll", "os.OpenFile": "regular files are offered to epoll",
	"os.Create": "regular files are offered to epoll", "os.CreateTemp": "regular files are offered to epoll",
	"os.ReadFile": "regular files are offered to epoll", "os.WriteFile": "regular files are offered to epoll",
	"os.ReadDir": "directories are opened with os.Open", "os.Pipe": "pipes are pollable",
	"time.Sleep": "runtime timer", "time.After": "runtime timer", "time.AfterFunc": "runtime timer",
	"time.NewTimer": "runtime timer", "time.NewTicker": "runtime timer", "time.Tick": "runtime timer",
	"context.WithTimeout": "runtime timer", "context.WithDeadline": "runtime timer",
	"net.Dial": "sockets use the poller", "net.DialTimeout": "sockets use the poller", "net.Listen": "sockets use the poller",
	"net.LookupHost": "the resolver uses the poller", "net.LookupIP": "the resolver uses the poller",
	"http.Get": "net/http's transport uses the poller", "http.Post": "net/http's transport uses the poller",
	"exec.Command": "os/exec opens /dev/null and pipes", "exec.CommandContext": "os/exec opens /dev/null and pipes",
	"x509.SystemCertPool": "reads files with os.ReadFile",
}

func TestAgentNeverStartsThePoller(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range agentPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok {
					name := id.Name + "." + sel.Sel.Name
					if why, bad := forbidden[name]; bad {
						t.Errorf("%s: %s starts Go's network poller (%s); use package nopoll or httpc", fset.Position(sel.Pos()), name, why)
					}
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: package list out of date?", checked)
	}
}
